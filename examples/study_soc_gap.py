"""Xu, Merryweather et al., Joule 2022, fig. S11 and "Practical implications": at 1C and 2C the SoC
difference between the periphery and the core of a particle can be as large as 20-30 % (from their
model).

What the nmc811 preset (α = 2.7) gives, charging from θ = 0.97 to 4.3 V:
- a 1 µm-radius sphere at C/3, 1C and 2C (one ``lithmap.sweep`` batch): the maximum over the charge
  of θ_centre − θ_surface;
- the shipped example particle (2D, in-plane diffusion as in the paper's model) at 1C and 2C: the
  maximum over the charge of the core ring mean (pixels ≥ 0.6 µm from the edge) minus the periphery
  ring mean (pixels ≤ 0.15 µm from the edge), and of θ_centre − θ_surface.
- the same sphere with a hypothetical D(θ) that continues the preset's log-linear rise below θ = 0.8
  (×100 per 0.2 of θ, to 1e-14 m²/s at θ = 0.6; the preset holds it flat at 1e-16 m²/s there), to
  show how much of the gap comes from that assumption.
A difference in θ is given also as SoC, Δθ / 0.764: the preset's 1C moves θ by 0.764 per hour
(210 mA h/g practical of 275 mA h/g theoretical), so 100 % SoC ≙ Δθ = 0.764.

Run:  python examples/study_soc_gap.py [out_dir]     (default examples/figures)
"""

import sys
from pathlib import Path

import numpy as np
import xarray as xr

import lithmap as lm


def ring_gap(ds, core=0.6e-6, periphery=0.15e-6):
    """Core ring mean minus periphery ring mean of θ on (time, y, x), rings by distance to the edge."""
    from scipy import ndimage

    mask = ds["mask"].values.astype(bool)
    dist = ndimage.distance_transform_edt(mask) * float(ds.x[1] - ds.x[0])
    th = ds["theta"].values
    return th[:, mask & (dist >= core)].mean(axis=1) - th[:, mask & (dist <= periphery)].mean(axis=1)


def soc_gap(sphere_rates=(1 / 3, 1.0, 2.0), example_rates=(1.0, 2.0), radius=1e-6, alpha=2.7, theta0=0.97,
            example=True):
    """Maximum periphery–core gaps of a sphere and (``example``) of the example particle.

    Returns
    -------
    xarray.Dataset
        ``sphere_gap`` (rate_sphere), ``sphere_gap_time`` (s), ``sphere_theta_surface_end``,
        ``sphere_gap_rising_d`` (the hypothetical D that keeps rising below θ = 0.8); with
        ``example``: ``ring_gap``, ``point_gap``, ``ring_gap_time`` (s) on ``rate_example``;
        ``soc_per_theta`` (1 / 0.764) converts any Δθ to ΔSoC.
    """
    mat = lm.nmc811()
    times = np.unique(np.concatenate([np.geomspace(1.0, 600.0, 40), np.arange(0.0, 3.2 * 3600, 10.0)]))
    sw = lm.sweep("sphere", radius=[radius], alpha=[alpha], rate=list(sphere_rates), material=mat, theta0=theta0,
                  protocol="Charge at {rate} until 4.3 V", times=times).isel(radius=0, alpha=0)
    gap = (sw.theta_centre - sw.theta_surface).fillna(-1.0)
    rising = lm.TabulatedDiffusivity([0.6, 0.8, 1.0], np.array([1e-14, 1e-16, 1e-18]) / 2.7,
                                     source="preset's log-linear slope continued to theta 0.6 (hypothetical)")
    sx = lm.sweep("sphere", radius=[radius], alpha=[alpha], rate=list(sphere_rates), theta0=theta0, times=times,
                  material=mat.replace(diffusivity=rising), protocol="Charge at {rate} until 4.3 V")
    gap_x = (sx.theta_centre - sx.theta_surface).fillna(-1.0).isel(radius=0, alpha=0)
    out = xr.Dataset(
        {"sphere_gap": ("rate_sphere", gap.max("time").values),
         "sphere_gap_rising_d": ("rate_sphere", gap_x.max("time").values,
                                 {"long_name": "max gap with D rising log-linearly to 1e-14 m^2/s at theta 0.6"}),
         "sphere_gap_time": ("rate_sphere", gap.idxmax("time").values, {"units": "s"}),
         "sphere_theta_surface_end": ("rate_sphere", sw.theta_surface_end.values)},
        coords={"rate_sphere": ("rate_sphere", np.asarray(sphere_rates, float), {"units": "C"})},
        attrs={"radius": radius, "alpha": alpha, "theta0": theta0, "soc_per_theta": 1.0 / mat.capacity_fraction},
    )
    if example:
        ring, point, when = [], [], []
        for c in example_rates:
            ds = lm.simulate("example", f"Charge at {c!r}C until 4.3 V", material=mat, alpha=alpha, theta0=theta0,
                             times=30.0 / c, stop_at_limit=True)
            rg = ring_gap(ds)
            ring.append(rg.max())
            when.append(float(ds.time[int(np.argmax(rg))]))
            point.append(float((ds.theta_centre - ds.theta_surface).max()))
        out["ring_gap"] = ("rate_example", np.array(ring))
        out["point_gap"] = ("rate_example", np.array(point))
        out["ring_gap_time"] = ("rate_example", np.array(when), {"units": "s"})
        out = out.assign_coords(rate_example=("rate_example", np.asarray(example_rates, float), {"units": "C"}))
    return out


def summary(ds):
    k = ds.soc_per_theta
    lines = [f"alpha {ds.alpha:g}, charge from {ds.theta0} to 4.3 V; gaps as delta theta and as delta SoC "
             f"(delta theta x {k:.3f}); paper: 20-30 % SoC at 1C and 2C"]
    for c in ds.rate_sphere.values:
        s = ds.sel(rate_sphere=c)
        lines.append(f"  sphere R = {ds.radius * 1e6:g} um, {c:.3g}C: max centre - surface {float(s.sphere_gap):.3f} "
                     f"= {100 * k * float(s.sphere_gap):.0f} % SoC at {float(s.sphere_gap_time) / 60:.1f} min "
                     f"(surface at 4.3 V: theta {float(s.sphere_theta_surface_end):.3f}); with D rising below 0.8: "
                     f"{float(s.sphere_gap_rising_d):.3f} = {100 * k * float(s.sphere_gap_rising_d):.0f} % SoC")
    if "ring_gap" in ds:
        for c in ds.rate_example.values:
            s = ds.sel(rate_example=c)
            lines.append(f"  example particle, {c:g}C: max core - periphery rings {float(s.ring_gap):.3f} "
                         f"= {100 * k * float(s.ring_gap):.0f} % SoC at {float(s.ring_gap_time) / 60:.1f} min; "
                         f"max centre - outline {float(s.point_gap):.3f} = {100 * k * float(s.point_gap):.0f} % SoC")
    return "\n".join(lines)


def main(out_dir="examples/figures"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds = soc_gap()
    k = float(ds.soc_per_theta)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(ds.rate_sphere, 100 * k * ds.sphere_gap, "o-", label="sphere R = 1 µm: centre − surface")
    ax.plot(ds.rate_sphere, 100 * k * ds.sphere_gap_rising_d, "o:",
            label="sphere, D rising below θ = 0.8 (hypothetical)")
    ax.plot(ds.rate_example, 100 * k * ds.ring_gap, "s-", label="example particle: core − periphery rings")
    ax.plot(ds.rate_example, 100 * k * ds.point_gap, "^--", label="example particle: centre − outline")
    ax.axhspan(20, 30, color="C1", alpha=0.2, label="paper (model): 20-30 % at 1C, 2C")
    ax.set_xscale("log")
    ax.set_xlabel("C-rate")
    ax.set_ylabel("max periphery–core ΔSoC (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "study_soc_gap.png", dpi=100)
    text = summary(ds)
    (out / "study_soc_gap.txt").write_text(text + "\n")
    print(text)
    print(f"wrote {out / 'study_soc_gap.png'}")
    return ds


if __name__ == "__main__":
    main(*sys.argv[1:])
