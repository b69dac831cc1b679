"""Xu, Merryweather et al., Joule 2022, Fig. 2C-D: charge for ~20 min at C/3, then rest: the
heterogeneity that builds during the charge relaxes to a uniform particle during the rest (its
kinetic, not thermodynamic, origin).

A 1 µm-radius sphere (``lithmap.sweep``) and the shipped example particle (``lithmap.simulate``),
α = 2.7, θ0 = 0.97: "Charge at C/3 for 20 minutes then Rest for 12 hours". The gap is
θ_centre − θ_surface (2D: centre minus outline mean). Reported: the gap at the end of the charge,
the time into the rest at which it falls below 0.01, and its late-rest decay rate beside the slowest
diffusion mode about the final mean θ̄, μ²·α·D_GITT(θ̄)/R² (μ = 4.493 for a sphere, the first root of
tan μ = μ).

Run:  python examples/study_charge_rest.py [out_dir]     (default examples/figures)
"""

import sys
from pathlib import Path

import numpy as np
import xarray as xr

import lithmap as lm

CHARGE_S = 20 * 60.0
REST_H = 12.0
UNIFORM = 0.01
MU_SPHERE = 4.493409457909064  #: first positive root of tan(mu) = mu


def first_below(t, gap, level):
    """First time at which ``gap`` falls below ``level`` (linear interpolation; NaN if never)."""
    below = np.flatnonzero(gap < level)
    if not below.size:
        return np.nan
    i = below[0]
    if i == 0:
        return float(t[0])
    return float(np.interp(level, [gap[i], gap[i - 1]], [t[i], t[i - 1]]))


def charge_rest(radius=1e-6, alpha=2.7, theta0=0.97, rest_hours=REST_H, n_rest=200, example=True,
                example_rest_times=(0.0, 0.5, 1.0, 2.0, 4.0, 8.0)):
    """The gap through the charge and rest of a sphere (and, with ``example``, the example particle).

    Returns
    -------
    xarray.Dataset
        ``gap``, ``theta_mean`` (time) of the sphere; ``gap_end_charge``, ``time_uniform`` (s into the
        rest when the gap < 0.01), ``decay_rate`` (1/s, late rest) and ``mode_rate`` (1/s, the
        slowest mode about θ̄); with ``example``: ``example_theta`` (example_time, y, x),
        ``example_gap`` (example_time).
    """
    mat = lm.nmc811()
    rest = np.geomspace(1.0, rest_hours * 3600.0, n_rest)
    times = np.unique(np.concatenate([np.linspace(0.0, CHARGE_S, 41), CHARGE_S + rest]))
    proto = f"Charge at {{rate}} for 20 minutes then Rest for {rest_hours:g} hours"
    sw = lm.sweep("sphere", radius=[radius], alpha=[alpha], rate=[1 / 3], protocol=proto, material=mat,
                  theta0=theta0, times=times).isel(radius=0, alpha=0, rate=0)
    gap = (sw.theta_centre - sw.theta_surface).drop_vars(["radius", "alpha", "rate"], errors="ignore")
    t = sw.time.values
    in_rest = t >= CHARGE_S
    t_uniform = first_below(t[in_rest] - CHARGE_S, gap.values[in_rest], UNIFORM)
    late = in_rest & (gap.values > 1e-5) & (gap.values < 2e-3)  # linear regime, above solver noise
    decay = -np.polyfit(t[late], np.log(gap.values[late]), 1)[0] if late.sum() >= 3 else np.nan
    theta_bar = float(sw.theta_mean.values[-1])
    mode = MU_SPHERE**2 * alpha * float(mat.diffusivity(theta_bar)) / radius**2
    out = xr.Dataset({
        "gap": gap, "theta_mean": sw.theta_mean.drop_vars(["radius", "alpha", "rate"], errors="ignore"),
        "gap_end_charge": float(gap.sel(time=CHARGE_S)),
        "time_uniform": xr.DataArray(t_uniform, attrs={"units": "s", "long_name": "rest time until gap < 0.01"}),
        "decay_rate": xr.DataArray(decay, attrs={"units": "1/s"}),
        "mode_rate": xr.DataArray(mode, attrs={"units": "1/s", "long_name": "mu^2 alpha D(theta_bar) / R^2"}),
        "theta_bar": theta_bar,
    }, attrs={"radius": radius, "alpha": alpha, "theta0": theta0, "charge_s": CHARGE_S})
    if example:
        et = CHARGE_S + 3600.0 * np.asarray(example_rest_times, float)
        ds = lm.simulate("example", f"Charge at C/3 for 20 minutes then Rest for {max(example_rest_times):g} hours",
                         material=mat, alpha=alpha, theta0=theta0, times=np.concatenate([[0.0], et]))
        ds = ds.sel(time=et)
        out["example_theta"] = (("example_time", "y", "x"), ds.theta.values)
        out["example_gap"] = ("example_time", (ds.theta_centre - ds.theta_surface).values)
        out = out.assign_coords(example_time=("example_time", et, {"units": "s"}), y=ds.y, x=ds.x)
    return out


def summary(ds):
    lines = [f"sphere R = {ds.radius * 1e6:g} um, alpha {ds.alpha:g}: C/3 for 20 min from {ds.theta0}, then rest "
             f"(mean theta {float(ds.theta_bar):.3f})",
             f"  gap at the end of the charge {float(ds.gap_end_charge):.3f}; below {UNIFORM} after "
             f"{float(ds.time_uniform) / 3600:.2f} h of rest",
             f"  late-rest decay rate {float(ds.decay_rate):.3g} 1/s; slowest mode mu^2 alpha D(theta_bar)/R^2 "
             f"{float(ds.mode_rate):.3g} 1/s (ratio {float(ds.decay_rate / ds.mode_rate):.2f})"]
    if "example_gap" in ds:
        for t, g in zip(ds.example_time.values, ds.example_gap.values):
            lines.append(f"  example particle, {(t - CHARGE_S) / 3600:4.1f} h into the rest: centre - outline {g:.4f}")
    return "\n".join(lines)


def main(out_dir="examples/figures"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds = charge_rest()
    n = ds.sizes["example_time"]
    fig = plt.figure(figsize=(10, 5.4))
    grid = fig.add_gridspec(2, n, height_ratios=[1.3, 1])
    ax = fig.add_subplot(grid[0, :])
    ax.plot(ds.time / 3600.0, ds.gap, label="sphere R = 1 µm: θ_centre − θ_surface")
    ax.plot(ds.example_time / 3600.0, ds.example_gap, "s", label="example particle: centre − outline")
    ax.axvline(CHARGE_S / 3600.0, color="grey", lw=0.8, ls="--", label="current off")
    ax.axhline(UNIFORM, color="k", lw=0.8, ls=":", label=f"gap {UNIFORM}")
    ax.set_xlim(0, CHARGE_S / 3600.0 + float(ds.example_time.max() - CHARGE_S) / 3600.0 + 0.2)
    ax.set_xlabel("time (h)")
    ax.set_ylabel("gap")
    ax.legend(fontsize=7)
    vmax = float(np.nanmax(1 - ds.example_theta))
    for k, t in enumerate(ds.example_time.values):
        axm = fig.add_subplot(grid[1, k])
        im = axm.imshow(1 - ds.example_theta.sel(example_time=t).values, vmin=0, vmax=vmax, cmap="Reds",
                        origin="lower")
        axm.set_title(f"rest {(t - CHARGE_S) / 3600:g} h", fontsize=8)
        axm.set_axis_off()
    fig.colorbar(im, ax=fig.axes[1:], shrink=0.8, label="1 − θ")
    fig.savefig(out / "study_charge_rest.png", dpi=100)
    text = summary(ds)
    (out / "study_charge_rest.txt").write_text(text + "\n")
    print(text)
    print(f"wrote {out / 'study_charge_rest.png'}")
    return ds


if __name__ == "__main__":
    main(*sys.argv[1:])
