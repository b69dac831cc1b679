"""``lithmap demo``: the whole pipeline on the example data shipped in the package, then the report.

Each stage computes with the library's public functions, writes its result file(s) into a
``data/`` folder and prints one line (what it found, how long it took); :func:`lithmap.build_report`
then turns the files into ``index.html``. Inputs (``src/lithmap/data/README.md``): the REAL GITT
pulses of a half-cell and the REAL Neware ``.ndax`` file, the SYNTHETIC operando movie of the
example particle (C/3 charge, made with α = 2.7), the REAL Mn K-edge XANES standards, from which a
SYNTHETIC spectral map is mixed, and a SYNTHETIC tilt series of a phantom particle. Every file made
from synthetic input says so in its attrs: ``synthetic = 1`` and ``synthetic_description`` (what it
was made from), the convention of :func:`lithmap.read_movie` for the shipped movie.

The studies follow ``examples/study_*.py`` (Xu, Merryweather et al., Joule 2022) on fewer cases,
with the same variable names; the spectral map, clusters, shells, tomogram and stress follow Liu,
Zeng et al., Nat. Nanotechnol. 2024.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import xarray as xr

#: The Mn K-edge standards shipped in the package (REAL spectra) and their oxidation states.
STANDARDS = (("MnO", 2.0), ("Mn2O3", 3.0), ("MnO2", 4.0))
#: Rates of the centre-lag study and radii of the size study (fewer than examples/ use).
RATES = (1 / 10, 1 / 3, 1.0)
RADII = (0.25e-6, 0.5e-6, 1e-6, 2e-6)
MOVED = 0.01  #: the centre counts as moving once θ_centre has fallen by this much
UNIFORM = 0.01  #: a gap below this counts as a uniform particle
MU_SPHERE = 4.493409457909064  #: first positive root of tan(μ) = μ (slowest diffusion mode of a sphere)
THETA0 = 0.97

_XU = "Xu, Merryweather et al., Joule 2022"
_LIU = "Liu, Zeng et al., Nat. Nanotechnol. 2024"


def _synthetic(ds, description: str):
    """Mark a result made from synthetic input (attrs ``synthetic`` = 1 and what it was made from)."""
    ds.attrs["synthetic"] = 1
    ds.attrs["synthetic_description"] = description
    return ds


def _drop_scalar_coords(obj, names=("radius", "alpha", "rate")):
    return obj.drop_vars([n for n in names if n in obj.coords and obj[n].ndim == 0])


# --------------------------------------------------------------------------------------------------------------
# stages: each takes (context, data folder, tick) and returns (files written, one-line summary)
# --------------------------------------------------------------------------------------------------------------

def _stage_gitt(ctx, data, tick):
    from .. import analyse_gitt, example_file, read_cycler, write_gitt_csv

    pulses = read_cycler([example_file(f"gitt_pulse_{k}.csv") for k in range(1, 7)],
                         columns={"voltage": "Positive electrode potential [V]"})
    gitt = analyse_gitt(pulses, radius="5.22um")
    path = write_gitt_csv(gitt, data / "gitt.csv")
    d = gitt["diffusivity_m2_s"].values
    flagged = int(sum(bool(f) for f in gitt["flags"].values))
    ctx["gitt"] = gitt
    return [path], (f"{gitt.sizes['pulse']} REAL pulses (r = 5.22 um): D {np.nanmin(d):.3g} to {np.nanmax(d):.3g} "
                    f"m^2/s over the titration, {flagged} flagged")


def _stage_cycles(ctx, data, tick):
    from .. import analyse_cycles, example_file, read_cycler, write_cycles_csv

    cycles = analyse_cycles(read_cycler(example_file("test.ndax")))
    path = write_cycles_csv(cycles, data / "cycles.csv")
    c = cycles.isel(cycle=0)
    ce, ce_cc = 100 * float(c.coulombic_efficiency), 100 * float(c.coulombic_efficiency_cc)
    return [path], (f"REAL Neware .ndax, {cycles.sizes['cycle']} cycle(s): CE {ce:.1f} % with the CV parts, "
                    f"{ce_cc:.1f} % of the CC parts alone")


def _stage_simulate(ctx, data, tick):
    from .. import simulate, write_result

    particle = simulate("example", "Charge at C/3 for 1 hour", material="nmc811", times=120.0)
    sphere = simulate("sphere:8um", "Charge at C/3 until 4.3 V", material="nmc811", stop_at_limit=True, times=60.0)
    files = [write_result(particle, data / "simulation_example_particle.nc"),
             write_result(sphere, data / "simulation_sphere_8um.nc")]
    gap = float((particle.theta_centre - particle.theta_surface).max())
    return files, (f"example particle, C/3 for 1 h: mean theta {float(particle.theta_mean[-1]):.3f} at the end, "
                   f"largest centre-outline gap {gap:.3f}; 8 um sphere at C/3 reaches 4.3 V after "
                   f"{float(sphere.time[-1]) / 60:.0f} min")


def _stage_contrast(ctx, data, tick):
    from .. import analyse_movie, write_result

    contrast = analyse_movie("example", rate="C/3", material="nmc811")
    _synthetic(contrast, "the SYNTHETIC operando movie shipped with lithmap (example_movie.tif): the engine's "
                         "theta maps of the example particle (nmc811, C/3 charge, alpha = 2.7) through a monotone "
                         "theta-to-intensity law, PSF, drift, flicker and shot noise; not a measurement")
    path = write_result(contrast, data / "contrast.nc")
    ctx["contrast"] = contrast
    return [path], (f"{contrast.sizes['time']} frames, {int(contrast['mask'].sum())} particle pixels: mean total "
                    f"contrast {float(contrast.mean_contrast[-1]):.3f} at the last frame, largest drift "
                    f"{float(np.abs(contrast.drift).max()):.2f} px")


def _stage_fit(ctx, data, tick):
    from .. import fit_diffusivity, write_result

    fit = fit_diffusivity(ctx["contrast"], material="nmc811", progress=tick)
    _synthetic(fit, "fitted to the SYNTHETIC operando movie shipped with lithmap (made with alpha = 2.7 on the "
                    "nmc811 preset's D(theta)); the fit uses the nmc811 preset's D(theta), not the GITT pulses above "
                    "(another cell)")
    fit.attrs["alpha_true"] = 2.7
    path = write_result(fit, data / "fit.nc")
    ctx["fit"] = fit
    d = fit["diffusivity"]
    return [path], (f"alpha = {float(fit.alpha):.3f} (95 % {float(fit.alpha_low):.3f} to {float(fit.alpha_high):.3f}; "
                    f"made with 2.7); D(theta) {float(d.min()):.3g} to {float(d.max()):.3g} m^2/s over theta "
                    f"{float(fit.theta.min()):.2f}-{float(fit.theta.max()):.2f} with 95 % bands "
                    f"({fit.attrs.get('status', '')})")


def _lag(theta_centre, theta_mean, times, theta0=THETA0):
    """Mean delithiation passed before the centre moved by MOVED, its time, and whether it moved."""
    moved = np.flatnonzero(theta0 - theta_centre > MOVED)
    i = moved[0] if moved.size else int(np.flatnonzero(np.isfinite(theta_mean))[-1])
    return theta0 - float(theta_mean[i]), float(times[i]), bool(moved.size)


def _study_rates():
    """Fig. 3F, figs. S8-S11: the centre lags at every rate (examples/study_rates.py, three rates)."""
    from .. import nmc811, sweep

    mat = nmc811()
    t_end = 1.1 * 3600.0 / min(RATES)
    times = np.unique(np.concatenate([[0.0], np.geomspace(1.0, t_end, 400), np.linspace(0.0, t_end, 400)]))
    sw = _drop_scalar_coords(sweep("sphere", radius=[1e-6], alpha=[2.7], rate=list(RATES), material=mat,
                                   protocol="Charge at {rate} until 4.3 V", theta0=THETA0, times=times)
                             .isel(radius=0, alpha=0))
    rows = [_lag(sw.theta_centre.sel(rate=c).values, sw.theta_mean.sel(rate=c).values, sw.time.values)
            for c in sw.rate.values]
    lag = np.array([r[0] for r in rows])
    mah = mat.theoretical_capacity / 3600.0
    ds = xr.Dataset({
        "theta_centre": sw.theta_centre, "theta_mean": sw.theta_mean, "theta_surface": sw.theta_surface,
        "lag": ("rate", lag, {"units": "1", "long_name": "mean delithiation when the centre has moved by 0.01"}),
        "lag_mah_g": ("rate", lag * mah, {"units": "mA h/g"}),
        "lag_soc": ("rate", lag / mat.capacity_fraction, {"units": "1", "long_name": "lag as SoC (210 mA h/g = 1)"}),
        "lag_time": ("rate", np.array([r[1] for r in rows]), {"units": "s"}),
        "centre_moved": ("rate", np.array([r[2] for r in rows]).astype("int8"),
                         {"long_name": "the centre moved by 0.01 before 4.3 V (else lag is a lower bound)"}),
        "stop_time": sw.stop_time,
    }, attrs={"radius": 1e-6, "alpha": 2.7, "theta0": THETA0, "moved": MOVED})
    text = ", ".join(f"{_rate_text(c)} {v:.3f}" for c, v in zip(ds.rate.values, lag))
    return ds, f"centre lag (theta passed before the centre moves by {MOVED}): {text}"


def _rate_text(c: float) -> str:
    return f"C/{1 / c:.0f}" if c < 1 else f"{c:g}C"


def _study_size():
    """Figs. S13-S14: smaller particles are less heterogeneous (examples/study_size.py, four radii)."""
    from .. import sweep

    times = np.unique(np.concatenate([np.geomspace(1.0, 600.0, 30), np.arange(0.0, 4 * 3600 + 60.0, 60.0)]))
    sw = _drop_scalar_coords(sweep("sphere", radius=list(RADII), alpha=[2.7], rate=[1 / 3], material="nmc811",
                                   protocol="Charge at {rate} until 4.3 V", theta0=THETA0, times=times)
                             .isel(alpha=0, rate=0))
    gap = sw.theta_centre - sw.theta_surface
    rows = [_lag(sw.theta_centre.sel(radius=r).values, sw.theta_mean.sel(radius=r).values, sw.time.values)
            for r in sw.radius.values]
    ds = xr.Dataset({
        "gap": gap, "gap_max": gap.max("time", skipna=True),
        "lag": ("radius", np.array([r[0] for r in rows]),
                {"long_name": "mean delithiation when the centre has moved by 0.01"}),
        "centre_moved": ("radius", np.array([r[2] for r in rows]).astype("int8")),
        "stop_time": sw.stop_time,
    }, attrs={"rate": 1 / 3, "alpha": 2.7, "theta0": THETA0})
    ds["slope"] = ("radius", np.gradient(np.log(ds.gap_max.values), np.log(ds.radius.values)),
                   {"long_name": "d ln gap_max / d ln R"})
    text = ", ".join(f"{r * 1e6:g} um {g:.3f}" for r, g in zip(ds.radius.values, ds.gap_max.values))
    return ds, f"max centre-surface gap at C/3: {text}"


def _study_charge_rest():
    """Fig. 2C-D: after 20 min of C/3 the heterogeneity relaxes during the rest
    (examples/study_charge_rest.py, the sphere only, 10 h of rest)."""
    from .. import nmc811, sweep

    mat = nmc811()
    charge_s, rest_h = 20 * 60.0, 10.0
    rest = np.geomspace(1.0, rest_h * 3600, 200)
    times = np.unique(np.concatenate([np.linspace(0.0, charge_s, 21), charge_s + rest]))
    sw = _drop_scalar_coords(sweep("sphere", radius=[1e-6], alpha=[2.7], rate=[1 / 3], material=mat, theta0=THETA0,
                                   protocol=f"Charge at {{rate}} for 20 minutes then Rest for {rest_h:g} hours",
                                   times=times).isel(radius=0, alpha=0, rate=0))
    gap = sw.theta_centre - sw.theta_surface
    t, g = sw.time.values, gap.values
    in_rest = t >= charge_s
    below = np.flatnonzero(in_rest & (g < UNIFORM))
    if below.size:
        i = below[0]
        t_uniform = float(np.interp(UNIFORM, [g[i], g[i - 1]], [t[i], t[i - 1]])) - charge_s
    else:
        t_uniform = np.nan
    late = in_rest & (g > 1e-5) & (g < 2e-3)
    decay = -np.polyfit(t[late], np.log(g[late]), 1)[0] if late.sum() >= 3 else np.nan
    theta_bar = float(sw.theta_mean.values[-1])
    mode = MU_SPHERE**2 * 2.7 * float(mat.diffusivity(theta_bar)) / 1e-12
    ds = xr.Dataset({
        "gap": gap, "theta_mean": sw.theta_mean,
        "gap_end_charge": float(gap.sel(time=charge_s)),
        "time_uniform": xr.DataArray(t_uniform, attrs={"units": "s", "long_name": "rest time until gap < 0.01"}),
        "decay_rate": xr.DataArray(decay, attrs={"units": "1/s"}),
        "mode_rate": xr.DataArray(mode, attrs={"units": "1/s", "long_name": "mu^2 alpha D(theta_bar) / R^2"}),
        "theta_bar": theta_bar,
    }, attrs={"radius": 1e-6, "alpha": 2.7, "theta0": THETA0, "charge_s": charge_s})
    return ds, (f"gap {float(ds.gap_end_charge):.3f} when the current stops, below {UNIFORM} after "
                f"{t_uniform / 3600:.2f} h of rest; late decay {decay:.3g} 1/s vs slowest mode {mode:.3g} 1/s")


def _study_cv_hold():
    """Fig. 4, Fig. 1E: a lithium-rich shell at the end of a 1C discharge to 3.0 V; a 2 h hold at 3.0 V
    recovers capacity (examples/study_cv_hold.py, ``shell``: the sphere at 1C)."""
    from .. import nmc811, simulate

    mat = nmc811()
    radius, rate = 1e-6, "1C"
    text = f"Charge at {rate} until 4.3 V then Discharge at {rate} until 3.0 V then Hold at 3.0 V for 2 hours"
    ds = simulate(f"sphere:{radius!r}m", text, material=mat, alpha=2.7, theta0=THETA0, times=60.0,
                  mesh_options={"surface_spacing": "1nm", "max_spacing": "20nm"})
    end = [float(ds.theta_mean.values[np.flatnonzero(ds.step.values == k)[-1]]) for k in range(3)]
    q_ch, q_cc, q_cv = THETA0 - end[0], end[1] - end[0], end[2] - end[1]
    i_cc = np.flatnonzero(ds.step.values == 1)[-1]
    prof = ds.theta.isel(time=i_cc)
    thickness = []
    for level in (0.95, 0.8):
        inner = np.flatnonzero(prof.values < level)
        thickness.append(radius - ds.r.values[inner[-1]] if inner.size else radius)
    mah = mat.theoretical_capacity / 3600.0
    out = xr.Dataset({
        "theta_cc": prof.drop_vars("time"), "theta_cv": ds.theta.isel(time=-1).drop_vars("time"),
        "theta_surface_cc": float(ds.theta_surface[i_cc]), "theta_centre_cc": float(ds.theta_centre[i_cc]),
        "shell_thickness": xr.DataArray(thickness, dims="level", coords={"level": [0.95, 0.8]},
                                        attrs={"units": "m", "long_name": "outer layer at theta >= level"}),
        "ce_cc": q_cc / q_ch, "ce_cv": (q_cc + q_cv) / q_ch, "q_ch": q_ch, "q_ch_mah_g": q_ch * mah,
        "extra_mah_g": q_cv * mah, "theta_end_cv": float(ds.theta_mean[-1]),
    }, attrs={"radius": radius, "alpha": 2.7, "rate": rate, "theta0": THETA0, "protocol": text, "shape": "sphere",
              "paper_ce_cc": 0.823, "paper_ce_cv": 0.943})
    return out, (f"1C cycle: CE {100 * float(out.ce_cc):.1f} % without the hold, {100 * float(out.ce_cv):.1f} % with "
                 f"it (+{float(out.extra_mah_g):.1f} mA h/g; the paper: 82.3 % and 94.3 %)")


def _verdict_rates(ds):
    lag = ds.lag.values
    ok = bool(np.all(lag > 5 * MOVED) and np.all(np.diff(lag) > 0))
    lines = [f"  {_rate_text(c)}: lag {'' if m else '>= '}{v:.3f} in theta = {mah:.0f} mA h/g, after "
             f"{t / 60:.0f} min" for c, v, mah, t, m in zip(ds.rate.values, lag, ds.lag_mah_g.values,
                                                          ds.lag_time.values, ds.centre_moved.values)]
    head = ("Reproduces: the centre lags at every rate, more at higher rates (a uniform particle would pass "
            f"{MOVED})." if ok else "Does NOT reproduce here: the lag does not grow with the rate.")
    return [head] + lines


def _verdict_size(ds):
    g = ds.gap_max.values
    ok = bool(np.all(np.diff(g) > 0))
    lines = [f"  R = {r * 1e6:g} um: max gap {v:.3f}, centre lag {lag:.3f}"
             for r, v, lag in zip(ds.radius.values, g, ds.lag.values)]
    head = ("Reproduces: the gap grows with the radius (about as R, not R^2: D rises as the surface delithiates)."
            if ok else "Does NOT reproduce here: the gap does not grow with the radius.")
    return [head] + lines


def _verdict_charge_rest(ds):
    ok = bool(np.isfinite(ds.time_uniform))
    head = ("Reproduces: the particle relaxes to uniform during the rest (a kinetic, not thermodynamic, "
            "heterogeneity)." if ok else "Does NOT reproduce here: the gap stays above 0.01 through the rest.")
    return [head, f"  gap {float(ds.gap_end_charge):.3f} when the current stops (mean theta "
                  f"{float(ds.theta_bar):.3f}); below {UNIFORM} after {float(ds.time_uniform) / 3600:.2f} h of rest",
            f"  late-rest decay {float(ds.decay_rate):.3g} 1/s; slowest diffusion mode mu^2 alpha D(theta)/R^2 "
            f"{float(ds.mode_rate):.3g} 1/s"]


def _verdict_cv_hold(ds):
    ok = float(ds.ce_cv) > float(ds.ce_cc) and float(ds.theta_surface_cc) > 0.99
    head = ("The lithium-rich shell and the recovery by the hold reproduce; the efficiencies do not (the paper: "
            "82.3 % without, 94.3 % with the hold; examples/README.md section 7 scans alpha and j0)."
            if ok else "Does NOT reproduce here: no lithium-rich shell, or the hold recovers nothing.")
    return [head, f"  end of the 1C discharge to 3.0 V: surface theta {float(ds.theta_surface_cc):.3f}, centre "
                  f"{float(ds.theta_centre_cc):.3f}; shell at theta >= 0.8: "
                  f"{float(ds.shell_thickness[1]) * 1e9:.0f} nm",
            f"  CE without the hold {100 * float(ds.ce_cc):.1f} %, with the 2 h hold {100 * float(ds.ce_cv):.1f} % "
            f"(+{float(ds.extra_mah_g):.1f} mA h/g of {float(ds.q_ch_mah_g):.0f} mA h/g charged)"]


def _plot_rates(ds, ax):
    for c in ds.rate.values:
        s = ds.sel(rate=c)
        ok = np.isfinite(s.theta_mean.values)
        ax[0].plot(s.time[ok] * c / 3600.0, ds.theta0 - s.theta_centre[ok], label=_rate_text(c))
        ax[1].plot(ds.theta0 - s.theta_mean[ok], ds.theta0 - s.theta_centre[ok], label=_rate_text(c))
    ax[0].set(xlabel="time × C-rate (h·C)", ylabel="centre delithiation θ0 − θ_centre (–)", xlim=(0, 0.8))
    ax[1].plot([0, 0.6], [0, 0.6], "k:", lw=0.8, label="uniform")
    ax[1].set(xlabel="mean delithiation θ0 − θ̄ (–)", ylabel="centre delithiation θ0 − θ_centre (–)")
    ax[1].legend(fontsize=8)


def _plot_size(ds, ax):
    r_um = ds.radius.values * 1e6
    ax[0].loglog(r_um, ds.gap_max, "o-")
    ax[0].minorticks_off()
    ax[0].set_xticks(r_um, [f"{r:g}" for r in r_um])
    ax[0].set_yticks([0.1, 0.2, 0.5], ["0.1", "0.2", "0.5"])
    ax[0].set(xlabel="radius R (µm)", ylabel="max gap θ_centre − θ_surface (–)")
    for r in ds.radius.values:
        g = ds.gap.sel(radius=r)
        ok = np.isfinite(g.values)
        ax[1].plot(ds.time[ok] / 60.0, g[ok], label=f"R = {r * 1e6:g} µm")
    ax[1].set(xlabel="time at C/3 (min)", ylabel="gap θ_centre − θ_surface (–)")
    ax[1].legend(fontsize=8)


def _plot_charge_rest(ds, ax):
    t = ds.time.values / 3600.0
    ax[0].plot(t, ds.gap, label="sphere R = 1 µm")
    ax[0].axvline(ds.charge_s / 3600.0, color="grey", lw=0.8, ls="--", label="current off")
    ax[0].axhline(UNIFORM, color="k", lw=0.8, ls=":", label=f"gap {UNIFORM}")
    ax[0].set(xlabel="time (h)", ylabel="gap θ_centre − θ_surface (–)")
    ax[0].legend(fontsize=8)
    rest = ds.time.values > ds.charge_s
    ax[1].semilogy(t[rest] - ds.charge_s / 3600.0, np.clip(ds.gap.values[rest], 1e-7, None))
    ax[1].set(xlabel="time into the rest (h)", ylabel="gap (–), log scale")


def _plot_cv_hold(ds, ax):
    r = ds.r.values * 1e6
    ax[0].plot(r, ds.theta_cc, label="end of the 1C discharge (3.0 V)")
    ax[0].plot(r, ds.theta_cv, label="after the 2 h hold at 3.0 V")
    ax[0].set(xlabel="r (µm)", ylabel="lithium fraction θ (–)")
    ax[0].legend(fontsize=8)
    x = np.arange(2)
    ax[1].bar(x - 0.2, [100 * float(ds.ce_cc), 100 * float(ds.ce_cv)], 0.4, label="model (α = 2.7)")
    ax[1].bar(x + 0.2, [100 * ds.paper_ce_cc, 100 * ds.paper_ce_cv], 0.4, label="the paper")
    ax[1].set_xticks(x, ["without the hold", "with the hold"])
    ax[1].set(ylabel="coulombic efficiency (%)", ylim=(0, 110))
    ax[1].legend(fontsize=8)


#: The studies: (name, function, its verdict and plot, the figure of Xu, Merryweather et al., the claim checked).
STUDIES = (
    ("rates", _study_rates, _verdict_rates, _plot_rates, "Fig. 3F, figs. S8-S11",
     "the particle centre lags the start of charge at every rate"),
    ("size", _study_size, _verdict_size, _plot_size, "figs. S13-S14", "smaller particles are less heterogeneous"),
    ("charge_rest", _study_charge_rest, _verdict_charge_rest, _plot_charge_rest, "Fig. 2C-D",
     "the heterogeneity built on charge relaxes during a rest"),
    ("cv_hold", _study_cv_hold, _verdict_cv_hold, _plot_cv_hold, "Fig. 4, Fig. 1E",
     "a lithium-rich shell after a 1C discharge to 3.0 V; a 2 h hold at 3.0 V recovers capacity"),
)


def _keep(ctx, path: Path) -> Path:
    """Record a file the report keeps in data/ without drawing it (an input made for the demo, a study's numbers)."""
    ctx.setdefault("kept", []).append(path)
    return path


def _stage_studies(ctx, data, tick):
    from .. import write_result
    from . import style

    files, parts = [], []
    for k, (name, func, verdict, plot, figure, claim) in enumerate(STUDIES):
        ds, text = func()
        ds.attrs.update(study=name, paper=f"{_XU}, {figure}", finding=claim, model="nmc811 preset, alpha = 2.7",
                        script=f"examples/study_{name}.py (more cases there)")
        _keep(ctx, write_result(ds, data / f"study_{name}.nc"))
        with style.figure_style():
            fig, ax = style._plt().subplots(1, 2, figsize=(9.0, 3.6))
            plot(ds, ax)
            fig.suptitle(f"{_XU}, {figure}: {claim}", fontsize=9)
            png, _svg = style.save_figure(fig, data / f"study_{name}")
        lines = [f"{_XU}, {figure}: {claim}.", "Model: a sphere of the nmc811 preset (alpha = 2.7, theta0 = "
                 f"{THETA0}), fewer cases than {ds.attrs['script']}; numbers in data/study_{name}.nc.",
                 *verdict(ds)]
        text_lines = [w for ln in lines for w in textwrap.wrap(ln, 110, subsequent_indent="    ")]
        (data / f"study_{name}.txt").write_text("\n".join(text_lines) + "\n", encoding="utf-8")
        files.append(png)
        parts.append(f"{name}: {text}")
        ctx[f"study_{name}"] = ds
        if tick is not None:
            tick(k + 1, len(STUDIES))
    ctx["study_lines"] = parts
    return files, f"{len(STUDIES)} studies of {_XU} on the nmc811 preset: " + ", ".join(n for n, *_ in STUDIES)


def _standards_spectra():
    """The REAL standards, each edge-step normalised (Larch's pre_edge rule), on the MnO2 scan's energies
    inside 6525-6610 eV (the Mn K edge at ~6546 eV, -20 ... +60 eV)."""
    from .. import example_file, normalise, read_spectra

    mus = [read_spectra(example_file(f"{n}_rt_01.xdi"))["mu"] for n, _ in STANDARDS]
    e = mus[2]["energy"].values
    e = e[(e >= 6526.0) & (e <= 6606.0)]
    S = np.stack([np.interp(e, m["energy"].values, normalise(m).values) for m in mus], axis=1)
    return xr.DataArray(S, dims=("energy", "standard"),
                        coords={"energy": ("energy", e, {"units": "eV"}), "standard": [n for n, _ in STANDARDS]},
                        attrs={"long_name": "edge-step normalised absorbance", "units": "1"})


def _spectral_map(standards, n=40, pixel=50e-9, seed=14):
    """A SYNTHETIC Mn K-edge map of a round particle mixed from the REAL standards: the valence falls
    from 3.9 in the core to 3.1 at the surface (made up for the demo), thickness a dome (x4 from
    edge to centre), a sloped pre-edge background, an offset and 1 % noise. Returns the absorbance
    DataArray (energy, y, x), the mask and the true mean valence."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:n, :n]
    c = (n - 1) / 2
    rho = np.hypot(y - c, x - c) / (0.45 * n)
    inside = rho <= 1
    r2 = np.clip(rho, 0, 1) ** 2
    w = np.stack([0.1 * r2, 0.1 + 0.6 * r2, 0.9 - 0.7 * r2], axis=-1)  # MnO, Mn2O3, MnO2
    w = np.clip(w + rng.uniform(-0.03, 0.03, w.shape), 0, None)
    w /= w.sum(-1, keepdims=True)
    valence = np.where(inside, w @ np.array([v for _, v in STANDARDS]), np.nan)
    t = np.where(inside, 0.5 + 1.5 * np.sqrt(np.clip(1 - rho**2, 0, 1)), 0.0)
    e = standards["energy"].values
    S = standards.values  # (energy, standard)
    jump = 0.5
    od = t[..., None] * (jump * (w @ S.T) + 0.3 - 1e-3 * (e - 6520.0)) + 0.02
    od += rng.normal(size=od.shape) * 0.01 * jump * np.where(inside, t, 1.0)[..., None]
    coords = {"energy": ("energy", e, {"units": "eV"}), "y": ("y", pixel * np.arange(n), {"units": "m"}),
              "x": ("x", pixel * np.arange(n), {"units": "m"})}
    da = xr.DataArray(np.moveaxis(od, -1, 0), dims=("energy", "y", "x"), coords=coords, name="absorbance",
                      attrs={"units": "1", "long_name": "optical density"})
    return da, inside, valence


def _stage_lcf(ctx, data, tick):
    from .. import example_file, fit_lcf, lcf_from_files, write_result

    standards = _standards_spectra()
    absorbance, inside, truth = _spectral_map(standards)
    desc = ("a SYNTHETIC Mn K-edge spectral map (40x40 px, 50 nm) mixed from the REAL MnO/Mn2O3/MnO2 standards "
            "(XASDataLibrary, SSRL 4-3): a valence gradient from 3.9 (core) to 3.1 (surface) made up for the demo, "
            "thickness x4, a sloped background and 1 % noise; not a measurement")
    spectral_map = _synthetic(xr.Dataset({"absorbance": absorbance, "mask": (("y", "x"), inside.astype("int8")),
                                          "mean_valence_true": (("y", "x"), truth, {"units": "1"})}), desc)
    files = []
    _keep(ctx, write_result(spectral_map, data / "spectral_map.nc"))
    lcf = fit_lcf(absorbance, standards, [v for _, v in STANDARDS], mask=inside)
    lcf["mask"] = (("y", "x"), inside.astype("int8"))
    _synthetic(lcf, "LCF of " + desc)
    err = float(np.nanmean(np.abs(lcf["mean_valence"].values - truth)))
    lcf.attrs["mean_valence_error"] = err
    files.append(write_result(lcf, data / "lcf_map.nc"))
    real = lcf_from_files(example_file("Mn3O4_rt_02.xdi"), [f"{example_file(f'{n}_rt_01.xdi')}:{v:g}"
                                                            for n, v in STANDARDS], window="6535:6580eV")
    files.append(write_result(real, data / "lcf_Mn3O4.nc"))
    ctx.update(lcf=lcf, spectral_map=spectral_map, standards=standards, inside=inside)
    return files, (f"SYNTHETIC map: mean valence {float(np.nanmean(lcf.mean_valence)):.3f}, error {err:.4f} against "
                   f"the truth; REAL Mn3O4: {float(real.mean_valence):.3f} (nominal 8/3)")


def _stage_clusters(ctx, data, tick):
    from .. import spectral_clusters, write_result

    cl = spectral_clusters(ctx["spectral_map"]["absorbance"], 3, standards=ctx["standards"],
                           valences=[v for _, v in STANDARDS], mask=ctx["inside"], seed=0)
    _synthetic(cl, ctx["spectral_map"].attrs["synthetic_description"])
    path = write_result(cl, data / "clusters.nc")
    vals = ", ".join(f"{v:.2f}" for v in np.sort(cl["cluster_mean_valence"].values))
    return [path], (f"3 clusters of the SYNTHETIC map, mean valences {vals}; first component explains "
                    f"{100 * float(cl.explained_variance[0]):.0f} % of the variance")


def _stage_shells(ctx, data, tick):
    from .. import shell_statistics, shell_table, write_table

    ds = shell_statistics(ctx["lcf"]["mean_valence"], ctx["inside"], 5)
    table = shell_table(ds)
    # kept in data/, not drawn again: the report's LCF section draws the same shells from lcf_map.nc
    _keep(ctx, write_table(data / "shells.csv", list(table.columns), table.itertuples(index=False)))
    ctx["shells"] = ds
    means = ", ".join(f"{v:.3f}" for v in ds["mean"].values)
    return [], f"mean valence per equal-area shell of the SYNTHETIC map, surface to centre: {means}"


def _stage_tomography(ctx, data, tick):
    from .. import particle_phantom, project, reconstruct, write_result

    phantom = particle_phantom(64, void=0.3, inclusions=4, pixel_size="10nm", seed=0)
    angles = np.arange(-65.0, 66.0, 1.0)
    tilts = project(phantom["volume"], angles).to_dataset(name="projections")
    desc = ("a SYNTHETIC tilt series (parallel beam, -65 to 65 deg in 1 deg steps, tilt about y) of a 64^3 phantom "
            "particle (lithmap.particle_phantom: a central void and four denser inclusions, 10 nm voxels); not a "
            "measurement")
    _synthetic(tilts, desc)
    files = []
    _keep(ctx, write_result(tilts, data / "tilt_series.nc"))
    rec = reconstruct(tilts["projections"], progress=None)
    _synthetic(rec, "reconstruction of " + desc)
    truth = np.asarray(phantom["volume"].values) > 0
    from skimage.filters import threshold_otsu

    vol = rec["volume"].values
    got = vol > threshold_otsu(vol)
    iou = float((got & truth).sum() / (got | truth).sum())
    rec.attrs["particle_iou"] = iou
    files.append(write_result(rec, data / "reconstruction.nc"))
    return files, (f"SIRT of {angles.size} projections (+-65 deg, missing wedge) of a 64^3 phantom: particle IoU "
                   f"{iou:.3f} against the phantom")


def _stage_stress(ctx, data, tick):
    from .. import simulate_stress, write_result

    st = simulate_stress("sphere:8um:void=0.5um:pores=2", "Discharge at 10C for 72 seconds", material="lrtmo",
                         theta0=0.338, times="6s", dod=[0.1, 0.2])
    path = write_result(st, data / "stress.nc")
    hoop = st["hoop_stress"]
    where = np.unravel_index(int(np.nanargmax(np.abs(hoop.values))), hoop.shape)
    at = {d: float(hoop[d][i]) for d, i in zip(hoop.dims, where)}
    probes = ", ".join(f"{p} {float(v):.3g}" for p, v in zip(st.probe.values, st["probe_hoop_stress"].values[-1]))
    return [path], (f"lrtmo 8 um particle, 0.5 um void, 2 pores, 10C discharge for 72 s from theta 0.338 (DOD "
                    f"{float(st.depth_of_discharge[-1]):.2f}): hoop stress at the end {probes} Pa; largest |hoop| on "
                    f"the grid {float(hoop.values[where]):.3g} Pa at t = {at['time']:g} s, z = {at['z'] * 1e6:.2g} um, "
                    f"r = {at['r'] * 1e6:.2g} um")


#: The stages in order: (name, function).
DEMO_STAGES = (
    ("GITT -> D(theta)", _stage_gitt),
    ("cycler file -> CE", _stage_cycles),
    ("simulations", _stage_simulate),
    ("movie -> contrast", _stage_contrast),
    ("fit alpha and D(theta)", _stage_fit),
    ("studies", _stage_studies),
    ("LCF map", _stage_lcf),
    ("clusters", _stage_clusters),
    ("shells", _stage_shells),
    ("reconstruction", _stage_tomography),
    ("stress", _stage_stress),
)


# --------------------------------------------------------------------------------------------------------------
# running, progress and the output folder
# --------------------------------------------------------------------------------------------------------------

class _Bars:
    """Rich progress bars on stderr (a bar over the stages, one for the running stage) and the one-line
    stage summaries on stdout; silent when ``show`` is False."""

    def __init__(self, show: bool, n: int):
        self.show, self.n, self.prog = show, n, None
        if show and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self.total = self.prog.add_task("lithmap demo", total=n)

    def __enter__(self):
        if self.prog is not None:
            self.prog.__enter__()
        return self

    def __exit__(self, *exc):
        if self.prog is not None:
            self.prog.__exit__(*exc)

    @contextlib.contextmanager
    def stage(self, k: int, name: str):
        """Yields a ``tick(done, total)`` callback for the stage's own bar (None without bars)."""
        if self.prog is None:
            yield None
            return
        task = self.prog.add_task(f"  {name}", total=None)
        try:
            yield lambda done, total: self.prog.update(task, completed=done, total=max(total, done))
        finally:
            self.prog.remove_task(task)
            self.prog.advance(self.total)

    def echo(self, text: str):
        if not self.show:
            return
        if self.prog is not None:
            self.prog.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, flush=True)


def _check_out(out: Path, overwrite: bool):
    """Refuse, before any work, an ``out`` that would lose someone's files (the report's own rule)."""
    from .html import check_report_folder

    check_report_folder(out, overwrite)


def run_demo(out, *, overwrite: bool = False, progress: bool = True) -> Path:
    """Run the whole pipeline on the example data shipped in the package and write the report.

    GITT → D(θ) (REAL pulses), CE of a REAL cycler file, simulations of the example particle and
    an 8 µm sphere, the SYNTHETIC operando movie → total contrast → α and D(θ) with 95 % bands
    fitted to it (Xu, Merryweather et al., Joule 2022), four of the paper's studies (centre lag
    against rate, size, charge then rest, CV hold), then after Liu, Zeng et al., Nat. Nanotechnol.
    2024: LCF of a SYNTHETIC spectral map mixed from the REAL Mn standards (and of the REAL Mn3O4
    spectrum), its spectral clusters, mean valence in five equal-area shells, the SIRT
    reconstruction of a SYNTHETIC tilt series, and a stress run of the Li-rich particle with a void
    and pores. Each stage writes its result files (NetCDF/CSV, the studies' figures with their text)
    and prints one line with its time; :func:`lithmap.build_report` then writes ``out/index.html``,
    ``out/figures/`` and ``out/data/`` (the tables behind the figures, copies of the results in
    ``data/inputs/``), and the demo adds to ``data/`` what the page does not draw: the synthetic
    inputs it made (``spectral_map.nc``, ``tilt_series.nc``), the studies' numbers
    (``study_*.nc``), ``shells.csv`` and ``demo_stages.csv`` (each stage's seconds and summary).
    Everything is built in a temporary folder beside ``out`` and renamed at the end; about 1-2
    minutes on 2 cores.

    Parameters
    ----------
    out : str or Path
        Folder of the report. It must not exist or be empty, unless ``overwrite`` (then it is
        replaced, if it holds a report: an ``index.html``).
    overwrite : bool
        Replace an earlier report in ``out``.
    progress : bool
        Show progress bars (on a terminal, on stderr) and print one line per stage (stdout).

    Returns
    -------
    Path
        ``out/index.html``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "notes.txt").write_text("my notes")
    >>> run_demo(folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: output folder '...' exists and is not empty; pass --overwrite to replace it
    >>> [name for name, _ in DEMO_STAGES][:4]
    ['GITT -> D(theta)', 'cycler file -> CE', 'simulations', 'movie -> contrast']
    """
    from .html import build_report

    out = Path(out)
    _check_out(out, overwrite)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.demo-", dir=out.parent))
    try:
        data = work / "data"
        data.mkdir()
        ctx, results, timings = {}, [], []
        start = time.perf_counter()
        with _Bars(progress, len(DEMO_STAGES) + 1) as bars:
            for k, (name, func) in enumerate(DEMO_STAGES):
                t0 = time.perf_counter()
                with bars.stage(k, name) as tick:
                    files, summary = func(ctx, data, tick)
                dt = time.perf_counter() - t0
                results += files
                timings.append((name, dt, summary))
                bars.echo(f"[{k + 1:2d}/{len(DEMO_STAGES)}] {name}: {summary} ({dt:.1f} s)")
                if name == "studies":
                    for line in ctx["study_lines"]:
                        bars.echo(f"        {line}")
            t0 = time.perf_counter()
            with bars.stage(len(DEMO_STAGES), "report"):
                index = build_report(results, work / "report", title="lithmap demo: the example data, end to end")
            timings.append(("report", time.perf_counter() - t0, f"{index.name} and its figures"))
            bars.echo(f"[ report ] {index.name}, figures and data/ ({timings[-1][1]:.1f} s); "
                      f"total {time.perf_counter() - start:.1f} s")
        report = index.parent
        (report / "data").mkdir(exist_ok=True)
        for f in ctx.get("kept", []):  # inputs made for the demo and the studies' numbers, beside the report's
            dest = report / "data" / f.name
            shutil.copy2(f, dest if not dest.exists() else dest.with_name(f"demo_{f.name}"))
        from ..io.tables import write_table

        write_table(report / "data" / "demo_stages.csv", ["stage", "seconds", "summary"],
                    [(n, f"{s:.2f}", t) for n, s, t in timings])
        if out.exists():  # an empty folder, or an earlier report with --overwrite
            out.rename(work / "previous")
            try:
                report.rename(out)
            except OSError:
                (work / "previous").rename(out)
                raise
        else:
            report.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out / "index.html"
