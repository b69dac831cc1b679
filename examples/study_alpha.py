"""Xu, Merryweather et al., Joule 2022, Fig. 3 and fig. S12: delithiation at C/3 is heterogeneous
(a lithium-poor periphery around a lithium-rich core) for 1 ≤ α ≤ 5, and near-uniform for large α,
where D_app = α·D_GITT.

The core–periphery gap is θ_centre − θ_surface (the centre value minus the surface value; in 2D the
surface value is the mean over the outline), taken at its maximum over a C/3 charge from θ = 0.97 to
4.3 V. For the shipped example particle the same gap is also given as ring means (core: pixels at
least 0.6 µm from the edge; periphery: pixels within 0.15 µm of it). The scan runs on a 1 µm-radius
sphere in one ``lithmap.sweep`` batch; the maps are the example particle after 25 min (Fig. 2B's
third frame).

Run:  python examples/study_alpha.py [out_dir]     (default examples/figures)
"""

import sys
from pathlib import Path

import numpy as np
import xarray as xr

import lithmap as lm

THRESHOLD = 0.05  #: a gap below this counts as near-uniform
RADIUS = 1e-6  #: sphere radius, m (the example particle is ~2 µm across)


def trace_times(hours=4.0, step=30.0):
    """Output times, s: dense at the start (the gap of a fast particle peaks early), then every ``step``."""
    return np.unique(np.concatenate([np.geomspace(1.0, 600.0, 40), np.arange(0.0, hours * 3600 + step, step)]))


def ring_gap(ds, core=0.6e-6, periphery=0.15e-6):
    """Core ring mean minus periphery ring mean of θ on (time, y, x), with the rings from the
    distance of each pixel to the particle's edge."""
    from scipy import ndimage

    mask = ds["mask"].values.astype(bool)
    pixel = float(ds.x[1] - ds.x[0])
    dist = ndimage.distance_transform_edt(mask) * pixel  # to the nearest outside pixel's centre
    core_px = mask & (dist >= core)
    peri_px = mask & (dist <= periphery)
    th = ds["theta"].values
    return xr.DataArray(th[:, core_px].mean(axis=1) - th[:, peri_px].mean(axis=1), dims="time",
                        coords={"time": ds.time}, attrs={"units": "1", "long_name": "core minus periphery ring mean"})


def threshold_alpha(alpha, gap, threshold=THRESHOLD):
    """The α where the gap first falls below ``threshold`` (log-linear interpolation; NaN if never)."""
    below = np.flatnonzero(gap < threshold)
    if not below.size:
        return np.nan
    i = below[0]
    if i == 0:
        return float(alpha[0])
    la, lg = np.log(alpha[i - 1 : i + 1]), np.log(gap[i - 1 : i + 1])
    return float(np.exp(la[0] + (np.log(threshold) - lg[0]) * (la[1] - la[0]) / (lg[1] - lg[0])))


def alpha_scan(alpha=None, radius=RADIUS, rate=1 / 3, times=None):
    """Maximum core–periphery gap of a sphere over a charge to 4.3 V, for each α (one batch).

    Returns
    -------
    xarray.Dataset
        ``gap_max`` and ``time_of_max`` (s) on ``alpha``; ``gap`` (alpha, time); ``alpha_uniform``
        (the α where ``gap_max`` falls below 0.05); ``bound`` on ``alpha``, the quasi-steady gap of
        a constant D equal to the smallest D met during the charge, α·D_GITT(θ0):
        (dθ/dt)·R²/(6·α·D_GITT(θ0)), which the gap of the real, θ-dependent D cannot exceed.
    """
    alpha = np.geomspace(1.0, 1000.0, 19) if alpha is None else np.asarray(alpha, float)
    times = trace_times() if times is None else times
    mat = lm.nmc811()
    sw = lm.sweep("sphere", radius=[radius], alpha=alpha, rate=[rate], protocol="Charge at {rate} until 4.3 V",
                  material=mat, theta0=0.97, times=times)
    sel = sw.isel(radius=0, rate=0)
    gap = (sel.theta_centre - sel.theta_surface).drop_vars(["radius", "rate"], errors="ignore")
    gmax = gap.max("time", skipna=True)
    dtheta_dt = rate * mat.capacity_fraction / 3600.0
    bound = dtheta_dt * radius**2 / (6 * sel.alpha * float(mat.diffusivity(0.97)))
    out = xr.Dataset({
        "gap": gap, "gap_max": gmax, "time_of_max": gap.fillna(-1).idxmax("time"),
        "bound": bound, "stop_time": sel.stop_time,
    })
    out["alpha_uniform"] = threshold_alpha(alpha, gmax.values)
    out.attrs.update(radius=radius, rate=rate, threshold=THRESHOLD,
                     gap_definition="theta_centre - theta_surface, maximum over the C/3 charge from 0.97 to 4.3 V")
    return out


def example_maps(alpha=(1.0, 2.7, 5.0, 30.0, 100.0, 300.0), minutes=(5, 15, 25, 35), rate="C/3"):
    """The example particle at ``minutes`` of a charge for each α: θ maps and both gap measures
    (``gap_point``: centre minus outline mean; ``gap_ring``: core minus periphery ring means), and
    ``alpha_uniform_ring``, the α where the ring gap at 25 min (or the last minute given) falls below 0.05."""
    t = np.array(minutes, float) * 60.0
    theta, point, ring = [], [], []
    for a in alpha:
        ds = lm.simulate("example", f"Charge at {rate} for {max(minutes)} minutes", material="nmc811", alpha=a,
                         theta0=0.97, times=t).sel(time=t)
        theta.append(ds.theta.values)
        point.append((ds.theta_centre - ds.theta_surface).values)
        ring.append(ring_gap(ds).values)
    coords = {"alpha": ("alpha", np.asarray(alpha, float)), "time": ("time", t, {"units": "s"}), "y": ds.y, "x": ds.x}
    out = xr.Dataset({"theta": (("alpha", "time", "y", "x"), np.array(theta)),
                      "gap_point": (("alpha", "time"), np.array(point)),
                      "gap_ring": (("alpha", "time"), np.array(ring)), "mask": ds["mask"]}, coords=coords)
    t_ref = 25 * 60.0 if 25 in minutes else t[-1]
    out["alpha_uniform_ring"] = threshold_alpha(out.alpha.values, out.gap_ring.sel(time=t_ref).values)
    out.attrs["reference_time"] = t_ref
    return out


def summary(scan, maps):
    lines = [f"sphere R = {scan.radius * 1e6:g} um, C/3 to 4.3 V from theta 0.97; gap = theta_centre - theta_surface"]
    for a, g, t in zip(scan.alpha.values, scan.gap_max.values, scan.time_of_max.values):
        lines.append(f"  alpha {a:8.3g}: max gap {g:.3f} at {t / 60:6.1f} min")
    lines.append(f"gap falls below {THRESHOLD} at alpha = {float(scan.alpha_uniform):.0f}")
    for a in maps.alpha.values:
        s = maps.sel(alpha=a, time=maps.reference_time)
        lines.append(f"example particle, alpha {a:g}, 25 min: centre-surface {float(s.gap_point):.3f}, "
                     f"core-periphery rings {float(s.gap_ring):.3f}")
    lines.append(f"example particle: ring gap at {maps.reference_time / 60:g} min falls below {THRESHOLD} at "
                 f"alpha = {float(maps.alpha_uniform_ring):.0f}")
    return "\n".join(lines)


def main(out_dir="examples/figures"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scan = alpha_scan()
    maps = example_maps()
    fig = plt.figure(figsize=(11, 5.6))
    grid = fig.add_gridspec(2, 1, height_ratios=[1.3, 1])
    ax = fig.add_subplot(grid[0])
    ax.loglog(scan.alpha, scan.gap_max, "o-", label="sphere R = 1 µm, C/3")
    ax.loglog(scan.alpha, scan.bound.clip(max=1.0), "k:", lw=0.8, label="quasi-steady bound, D = α·D_GITT(0.97)")
    ax.axhline(THRESHOLD, color="grey", lw=0.8)
    ax.axvspan(1, 5, color="C1", alpha=0.15, label="paper: heterogeneous, 1 ≤ α ≤ 5")
    ax.axvline(float(scan.alpha_uniform), color="C3", lw=0.8, ls="--", label=f"gap < {THRESHOLD}: α ≈ "
               f"{float(scan.alpha_uniform):.0f}")
    ax.set_xlabel("α (D_app = α·D_GITT)")
    ax.set_ylabel("max θ_centre − θ_surface")
    ax.legend(fontsize=7, loc="lower left")
    n = maps.sizes["alpha"]
    for k, a in enumerate(maps.alpha.values):
        axm = fig.add_subplot(grid[1].subgridspec(1, n)[k])
        th = maps.theta.sel(alpha=a, time=maps.reference_time)
        im = axm.imshow(1 - th.values, vmin=0, vmax=0.3, cmap="Reds", origin="lower")
        axm.set_title(f"α = {a:g}, 25 min", fontsize=8)
        axm.set_axis_off()
    fig.colorbar(im, ax=fig.axes[1:], shrink=0.8, label="1 − θ")
    fig.savefig(out / "study_alpha.png", dpi=100)
    text = summary(scan, maps)
    (out / "study_alpha.txt").write_text(text + "\n")
    print(text)
    print(f"wrote {out / 'study_alpha.png'}")
    return scan, maps


if __name__ == "__main__":
    main(*sys.argv[1:])
