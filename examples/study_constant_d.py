"""Xu, Merryweather et al., Joule 2022, figs. S13 and S15: a low constant diffusivity
(D < 1e-13 cm²/s) also gives some heterogeneity, but then the particle centre delithiates linearly
in time, unlike the non-linear centre trace of experiment and of the θ-dependent D (Fig. 3F).

A 1 µm-radius sphere charged from θ = 0.97 to 4.3 V. Constant D of 2e-14, 5e-14 and 9e-14 cm²/s
(one ``lithmap.sweep`` batch: a constant D of 1e-14 cm²/s scaled by α) against the nmc811 preset's
D(θ) with α = 2.7. The rate is C/30: at C/3 a constant D below 1e-13 cm²/s empties the surface
(4.3 V) before the centre of a 1 µm particle moves at all, which the script also shows.

Linearity is measured two ways on θ_centre(t) after the centre starts to move (fallen by 0.01):
``r2``, the R² of a straight-line fit to the end of the charge, and ``peak_rate``, the largest
centre rate |dθ_centre/dt| divided by the particle-mean rate dθ̄/dt. For a constant D the centre
approaches the mean rate from below (the quasi-steady parabolic profile translates rigidly), so
``peak_rate`` ≤ 1; a D that rises steeply on delithiation sends a sharp front through the centre,
``peak_rate`` ≫ 1.

Run:  python examples/study_constant_d.py [out_dir]     (default examples/figures)
"""

import sys
from pathlib import Path

import numpy as np
import xarray as xr

import lithmap as lm

D_REF = 1e-18  #: m²/s (1e-14 cm²/s); the constant runs are this D scaled by α
CONSTANT_D_CM2_S = (2e-14, 5e-14, 9e-14)
MOVED = 0.01


def line_fit_r2(t, y):
    """R² of a least-squares straight line through (t, y)."""
    design = np.vstack([t, np.ones_like(t)]).T
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    res = y - design @ coef
    return float(1.0 - np.sum(res**2) / np.sum((y - y.mean()) ** 2))


def centre_linearity(time, theta_centre, mean_rate, theta0=0.97):
    """(r2, peak_rate, onset time) of a centre trace after it has moved by ``MOVED`` (NaNs if it never does)."""
    ok = np.isfinite(theta_centre)
    t, y = time[ok], theta_centre[ok]
    on = np.flatnonzero(theta0 - y > MOVED)
    if on.size < 3:
        return np.nan, np.nan, np.nan
    w = slice(max(on[0] - 1, 0), None)
    rate = -np.diff(y[w]) / np.diff(t[w])
    return line_fit_r2(t[w], y[w]), float(rate.max() / mean_rate), float(t[on[0]])


def constant_vs_variable(radius=1e-6, rate=1 / 30, constant_d=CONSTANT_D_CM2_S, n_times=600, theta0=0.97):
    """Centre traces and their linearity for constant D (cm²/s) and the preset D(θ).

    Returns
    -------
    xarray.Dataset
        On ``case`` (the constant D's as text, then ``"nmc811 D(theta), alpha 2.7"``): ``theta_centre``
        and ``theta_mean`` (case, time), ``r2``, ``peak_rate``, ``onset`` (s), ``diffusivity`` (m²/s
        at θ0), and ``moved_at_c3`` (did the centre move by 0.01 before 4.3 V at C/3).
    """
    mat = lm.nmc811()
    times = np.linspace(0.0, 1.1 * 3600.0 / rate, n_times)
    scale = np.asarray(constant_d, float) * 1e-4 / D_REF
    proto = "Charge at {rate} until 4.3 V"
    const = lm.sweep("sphere", radius=[radius], alpha=scale, rate=[rate], protocol=proto, material=mat,
                     diffusivity=D_REF, theta0=theta0, times=times).isel(radius=0, rate=0)
    var = lm.sweep("sphere", radius=[radius], alpha=[2.7], rate=[rate], protocol=proto, material=mat,
                   theta0=theta0, times=times).isel(radius=0, rate=0)
    fast = lm.sweep("sphere", radius=[radius], alpha=np.append(scale, 1.0), rate=[1 / 3], protocol=proto,
                    material=mat, diffusivity=D_REF, theta0=theta0).isel(radius=0, rate=0)
    fast_var = lm.sweep("sphere", radius=[radius], alpha=[2.7], rate=[1 / 3], protocol=proto, material=mat,
                        theta0=theta0).isel(radius=0, rate=0, alpha=0)
    mean_rate = rate * mat.capacity_fraction / 3600.0
    cases, tc, tm, stats, dvals, moved = [], [], [], [], [], []
    for k, a in enumerate(const.alpha.values):
        s = const.sel(alpha=a)
        cases.append(f"constant {constant_d[k]:g} cm2/s")
        tc.append(s.theta_centre.values)
        tm.append(s.theta_mean.values)
        dvals.append(a * D_REF)
        moved.append(bool(theta0 - float(fast.theta_centre_end.sel(alpha=a)) > MOVED))
    s = var.isel(alpha=0)
    cases.append("nmc811 D(theta), alpha 2.7")
    tc.append(s.theta_centre.values)
    tm.append(s.theta_mean.values)
    dvals.append(2.7 * float(mat.diffusivity(theta0)))
    moved.append(bool(theta0 - float(fast_var.theta_centre_end) > MOVED))
    for y in tc:
        stats.append(centre_linearity(times, y, mean_rate, theta0))
    stats = np.array(stats)
    out = xr.Dataset(
        {
            "theta_centre": (("case", "time"), np.array(tc)),
            "theta_mean": (("case", "time"), np.array(tm)),
            "r2": ("case", stats[:, 0], {"long_name": "R^2 of a line fit to theta_centre(t) after it moves"}),
            "peak_rate": ("case", stats[:, 1], {"long_name": "max centre rate / particle-mean rate"}),
            "onset": ("case", stats[:, 2], {"units": "s", "long_name": "time the centre has moved by 0.01"}),
            "diffusivity": ("case", np.array(dvals), {"units": "m^2/s", "long_name": "D_app at theta0"}),
            "moved_at_c3": ("case", np.array(moved), {"long_name": "centre moved by 0.01 before 4.3 V at C/3"}),
        },
        coords={"case": cases, "time": ("time", times, {"units": "s"})},
        attrs={"radius": radius, "rate": rate, "theta0": theta0},
    )
    return out


def summary(ds):
    lines = [f"sphere R = {ds.radius * 1e6:g} um, charge at C/{1 / ds.rate:.0f} from {ds.theta0} to 4.3 V"]
    for c in ds.case.values:
        s = ds.sel(case=c)
        lines.append(f"  {c:28s}: centre moves after {float(s.onset) / 3600:5.2f} h; line-fit R^2 {float(s.r2):.4f}; "
                     f"peak centre rate {float(s.peak_rate):5.2f} x mean; at C/3 the centre "
                     f"{'moves' if bool(s.moved_at_c3) else 'never moves'} before 4.3 V")
    return "\n".join(lines)


def main(out_dir="examples/figures"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds = constant_vs_variable()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    hours = ds.time / 3600.0
    mean_rate = ds.rate * lm.nmc811().capacity_fraction / 3600.0
    for c in ds.case.values:
        s = ds.sel(case=c)
        style = "-" if c.startswith("nmc811") else "--"
        a1.plot(hours, ds.theta0 - s.theta_centre, style, label=f"{c} (R² {float(s.r2):.4f})")
        rate = -np.gradient(s.theta_centre.values, ds.time.values) / mean_rate
        a2.plot(hours, rate, style, label=c)
    a1.set_xlabel("time (h)")
    a1.set_ylabel("centre delithiation θ0 − θ_centre")
    a1.legend(fontsize=7)
    a2.axhline(1.0, color="k", lw=0.8, ls=":")
    a2.set_xlabel("time (h)")
    a2.set_ylabel("centre rate / mean rate")
    fig.tight_layout()
    fig.savefig(out / "study_constant_d.png", dpi=100)
    text = summary(ds)
    (out / "study_constant_d.txt").write_text(text + "\n")
    print(text)
    print(f"wrote {out / 'study_constant_d.png'}")
    return ds


if __name__ == "__main__":
    main(*sys.argv[1:])
