"""Xu, Merryweather et al., Joule 2022, figs. S13-S14: the heterogeneity depends strongly on particle
size; smaller particles are less heterogeneous.

One ``lithmap.sweep`` batch: spheres of radius 0.1-4 µm, α = 2.7, charged at C/3 from θ = 0.97 to
4.3 V. For each radius: the maximum core–periphery gap θ_centre − θ_surface over the charge, and the
centre lag (mean delithiation passed before the centre has moved by 0.01; uniform: 0.01). A constant
D would give a quasi-steady gap growing as R², (dθ/dt)·R²/(6·D); with the preset's D(θ), which
rises steeply as the surface delithiates, it grows more slowly (``slope``: d ln gap / d ln R). The
gap cannot exceed θ0 minus the surface θ at 4.3 V, which caps it for large particles.

Run:  python examples/study_size.py [out_dir]     (default examples/figures)
"""

import sys
from pathlib import Path

import numpy as np
import xarray as xr

import lithmap as lm

RADII = (0.1e-6, 0.25e-6, 0.5e-6, 1e-6, 2e-6, 4e-6)
MOVED = 0.01


def size_scan(radius=RADII, rate=1 / 3, alpha=2.7, theta0=0.97, times=None):
    """Gap and centre lag against radius (one batch).

    Returns
    -------
    xarray.Dataset
        On ``radius`` (m): ``gap_max``, ``lag`` (θ), ``centre_moved`` (False: the lag is the whole
        charge, a lower bound), ``stop_time`` (s), ``slope`` (d ln gap_max / d ln R); ``gap``
        (radius, time).
    """
    if times is None:
        times = np.unique(np.concatenate([np.geomspace(1.0, 600.0, 40), np.arange(0.0, 4 * 3600 + 30.0, 30.0)]))
    sw = lm.sweep("sphere", radius=list(radius), alpha=[alpha], rate=[rate], protocol="Charge at {rate} until 4.3 V",
                  material="nmc811", theta0=theta0, times=times).isel(alpha=0, rate=0)
    gap = sw.theta_centre - sw.theta_surface
    lag, moved_any = [], []
    for R in sw.radius.values:
        s = sw.sel(radius=R)
        moved = np.flatnonzero(theta0 - s.theta_centre.values > MOVED)
        i = moved[0] if moved.size else int(np.flatnonzero(np.isfinite(s.theta_mean.values))[-1])
        lag.append(theta0 - float(s.theta_mean[i]))
        moved_any.append(bool(moved.size))
    out = xr.Dataset({
        "gap": gap.drop_vars(["alpha", "rate"], errors="ignore"),
        "gap_max": gap.max("time", skipna=True).drop_vars(["alpha", "rate"], errors="ignore"),
        "lag": ("radius", np.array(lag), {"long_name": "mean delithiation when the centre has moved by 0.01"}),
        "centre_moved": ("radius", np.array(moved_any)),
        "stop_time": sw.stop_time.drop_vars(["alpha", "rate"], errors="ignore"),
    })
    out["slope"] = ("radius", np.gradient(np.log(out.gap_max.values), np.log(out.radius.values)),
                    {"long_name": "d ln gap_max / d ln R"})
    out.attrs.update(rate=rate, alpha=alpha, theta0=theta0)
    return out


def summary(ds):
    lines = [f"spheres, alpha {ds.alpha:g}, C/3 from {ds.theta0} to 4.3 V"]
    for R in ds.radius.values:
        s = ds.sel(radius=R)
        at_least = "" if bool(s.centre_moved) else ">= "
        lines.append(f"  R = {R * 1e6:4.2f} um: max gap {float(s.gap_max):.3f}; "
                     f"centre lag {at_least}{float(s.lag):.3f}; "
                     f"d ln gap / d ln R {float(s.slope):.2f}")
    return "\n".join(lines)


def main(out_dir="examples/figures"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds = size_scan()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    r_um = ds.radius * 1e6
    a1.loglog(r_um, ds.gap_max, "o-", label="max θ_centre − θ_surface")
    a1.loglog(r_um, ds.lag, "s-", label="centre lag (θ0 − θ̄ when the centre moves)")
    a1.set_xlabel("radius (µm)")
    a1.legend(fontsize=7)
    for R in ds.radius.values:
        g = ds.gap.sel(radius=R)
        a2.plot(ds.time / 60.0, g, label=f"R = {R * 1e6:g} µm")
    a2.set_xlabel("time at C/3 (min)")
    a2.set_ylabel("θ_centre − θ_surface")
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "study_size.png", dpi=100)
    text = summary(ds)
    (out / "study_size.txt").write_text(text + "\n")
    print(text)
    print(f"wrote {out / 'study_size.png'}")
    return ds


if __name__ == "__main__":
    main(*sys.argv[1:])
