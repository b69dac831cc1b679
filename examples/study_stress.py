"""Liu, Zeng et al., Nat. Nanotechnol. 2024, Fig. 5 d–g: hoop stress along the radius of a Li-rich
particle at chosen depths of discharge, at 0.1C and 10C, and the stress at the bridge point
between its central void and a pore against DOD. The paper reports a hoop stress of 3.17e8 Pa
at 10C and 20 % DOD, "at least two orders of magnitude" above 0.1C at the same DOD.

The particle is the ``lrtmo`` preset (Li1.2Mn0.56Ni0.16Co0.08O2, θ = Li/1.2): radius 8 µm with a
0.5 µm central void, D = 5e-13 m²/s at 298.15 K, E = 150 GPa, ν = 0.3 and the strain of the
lattice table ``LRTMO_LATTICE`` (E, ν and the table are assumed: the paper's Supplementary
Table 3 and its ΔV/V₀ data were not available to us).

- **Discharge = lithiation from a charged state.** θ0 = 1 − f = 0.338, with f = 0.662 the
  preset's practical share (250 of 377.6 mA h/g): the state a full practical charge leaves
  behind when it starts from the pristine θ = 1. A full discharge would then bring θ back to 1.
- **DOD** is :func:`lithmap.mechanics.driver.depth_of_discharge`: the charge passed as a share
  of the practical capacity, Δθ̄/f. So 20 % DOD is Δθ̄ = 0.132, reached after 72 s at 10C and
  2 h at 0.1C.
- **Panels d, e (hoop stress along the radius).** The engine's hollow-sphere run
  (``sphere:8um:void=0.5um``, zero flux at the void) and the closed forms of
  :mod:`lithmap.mechanics.stress`, at DOD 5, 10 and 20 %.
- **Panels f, g (the bridge point).** Hoop and von Mises stress at the bridge point A between the
  void and the nearest pore, from the coupled model on the particle with its pores
  (``sphere:8um:void=0.5um:pores=2``: two 0.2 µm pores on the axis at ±1.1 µm; the paper gives no
  distance, so it is assumed): the engine's transport on the axisymmetric mesh with zero flux at
  the void and both pores and the Butler–Volmer current distribution, then axisymmetric finite
  elements on the same mesh.
- **What else sets the size.** Linear elasticity makes the stress scale with the strain slope
  dε/dθ of the table over the θ range the run passes through. The script reports that slope, and
  the slope that would give the paper's 3.17e8 Pa.

Run:  python examples/study_stress.py [out_dir]     (default examples/figures; < 60 s)
"""

import sys
from pathlib import Path

import numpy as np
import xarray as xr

import lithmap as lm
from lithmap.mechanics.strain import mechanical_properties
from lithmap.physics.materials import lrtmo

SHAPE = "sphere:8um:void=0.5um"
POROUS = "sphere:8um:void=0.5um:pores=2"  # two 0.2 um pores on the axis at +-1.1 um (the distance assumed)
RATES = (0.1, 10.0)
DODS = (0.05, 0.1, 0.2)
DOD_END = 0.2
PAPER_HOOP_10C_20DOD = 3.17e8  # Pa, Liu, Zeng et al. 2024 (main text, Fig. 5 d-e)
PAPER_RATIO = 100.0  # "at least two orders of magnitude higher than ... 0.1 C"
#: Mesh of the coupled run (m): largest element, element at the void/pores, element at the outer surface
MESH = {"max_spacing": 6e-7, "cavity_spacing": 2e-8, "surface_spacing": 2e-7}


def charged_theta0() -> float:
    """θ0 = 1 − f: the lithium fraction left after charging the practical capacity from pristine θ = 1."""
    return 1.0 - lrtmo().capacity_fraction


def discharge(rate, *, dod_end=DOD_END, dods=DODS, n_times=41, theta0=None) -> xr.Dataset:
    """The hollow-sphere discharge at ``rate`` (C) to ``dod_end``, with its closed-form stresses.

    Returns
    -------
    xarray.Dataset
        A :func:`lithmap.simulate_stress` result: θ and the stresses on (time, r),
        ``depth_of_discharge`` on time, ``hoop_stress_at_dod`` on (dod, r), probe histories at the
        void and the surface.
    """
    theta0 = charged_theta0() if theta0 is None else float(theta0)
    t_end = dod_end * 3600.0 / rate  # 1C passes the practical capacity (DOD 1) in one hour
    # denser over the first 30 %: the surface crosses the table's kink at theta = 0.35 there
    steps = np.unique(np.round(np.concatenate([np.linspace(0, 1, n_times), np.linspace(0, 0.3, n_times)]), 12))
    times = steps * t_end
    return lm.simulate_stress(SHAPE, f"Discharge at {rate:g}C for {t_end:.10g} seconds", material="lrtmo",
                              theta0=theta0, times=list(times),
                              dod=list(dods), probe="void,surface")


def hoop_profiles(runs: dict) -> xr.DataArray:
    """Hoop stress along the radius at each DOD for each rate: on (rate, dod, r), Pa (panels d, e)."""
    rates = sorted(runs)
    r = runs[rates[0]]["r"]
    rows = [runs[c]["hoop_stress_at_dod"].interp(r=r) for c in rates]
    out = xr.concat(rows, dim=xr.DataArray(list(rates), dims="rate", name="rate", attrs={"units": "C-rate"}))
    out.name = "hoop_stress_at_dod"
    return out.drop_vars("dod_time")


def bridge_history(rate, *, mesh=None, dod_end=DOD_END, n_times=41) -> xr.Dataset:
    """Hoop and von Mises stress at the bridge point against DOD (panels f, g): the coupled model on
    the particle with its pores (``sphere:8um:void=0.5um:pores=2``: the engine's transport with zero
    flux at the void and both pores, Butler–Volmer current distribution, then axisymmetric finite
    elements on the same mesh).

    Returns
    -------
    xarray.Dataset
        ``bridge_hoop_stress``, ``bridge_von_mises_stress``, ``void_hoop_stress_fe`` (Pa) on time,
        with the DOD as a coordinate; the mesh as attrs.
    """
    t_end = dod_end * 3600.0 / rate
    st = lm.simulate_stress(POROUS, f"Discharge at {rate:g}C for {t_end:.10g} seconds", material="lrtmo",
                            theta0=charged_theta0(), times=list(np.linspace(0, t_end, n_times)),
                            probe="bridge,void", mesh_options=mesh or MESH)
    b = st.sel(probe="bridge")
    drop = ["probe", "probe_r", "probe_z"]
    out = xr.Dataset({
        "bridge_hoop_stress": b["probe_hoop_stress"].drop_vars(drop),
        "bridge_von_mises_stress": b["probe_von_mises_stress"].drop_vars(drop),
        "void_hoop_stress_fe": st["probe_hoop_stress"].sel(probe="void").drop_vars(drop),
    })
    for k in out:
        out[k].attrs["units"] = "Pa"
    out = out.assign_coords(dod=("time", st["depth_of_discharge"].values, {"units": "1"}))
    out.attrs.update(bridge_r=float(b.probe_r), bridge_z=float(b.probe_z), n_elements=int(st.attrs["n_elements"]),
                     mesh_min_size=float(st.attrs["mesh_min_size"]), mesh_max_size=float(st.attrs["mesh_max_size"]),
                     transport_nodes=int(st.attrs["mesh_nodes"]),
                     lithium_drift=float(np.abs(st.theta_mean + st.delithiated - st.theta_mean[0]).max()))
    return out


def strain_slope(theta_min, theta_max) -> dict:
    """dε/dθ of the lrtmo lattice table over [θ_min, θ_max]: the chord and the table segments met."""
    props = mechanical_properties("lrtmo")
    table = props.lattice
    eps = props.strain(np.array([theta_min, theta_max]))
    seg_eps = props.strain(table.theta)
    seg_slope = np.diff(seg_eps) / np.diff(table.theta)
    met = (table.theta[1:] > theta_min) & (table.theta[:-1] < theta_max)
    return {"theta_min": float(theta_min), "theta_max": float(theta_max),
            "chord": float((eps[1] - eps[0]) / (theta_max - theta_min)),
            "segments": [(float(a), float(b), float(s)) for a, b, s, m in
                         zip(table.theta[:-1], table.theta[1:], seg_slope, met) if m],
            "table_max": float(np.abs(seg_slope).max())}


def quasi_steady_void_hoop(rate, theta_void) -> float:
    """An independent estimate of the hoop stress at the void (Pa): the quasi-steady profile of a
    constant-flux sphere, θ̄ − θ(0) = (dθ̄/dt)·R²/(10·D), strained by the table's local slope
    dε/dθ at ``theta_void``, gives the solid sphere's centre stress 2E/(3(1 − ν))·Δε; Goodier's
    factor carries it to the surface of the small central void."""
    from lithmap.mechanics.stress import goodier_factor

    props, mat = mechanical_properties("lrtmo"), lrtmo()
    table = props.lattice
    i = int(np.clip(np.searchsorted(table.theta, theta_void) - 1, 0, table.theta.size - 2))
    seg = table.theta[i:i + 2]
    slope = float(np.diff(props.strain(seg))[0] / np.diff(seg)[0])
    radius, void = 8e-6, 0.5e-6
    gap = rate * mat.capacity_fraction / 3600.0 * radius**2 / (10.0 * mat.diffusivity.value)
    centre = 2 * props.youngs_modulus / (3 * (1 - props.poisson_ratio)) * slope * gap
    return float(goodier_factor(void, radius) * centre)


def diffusivity_sensitivity(values=(5e-13, 5e-14, 1e-14), rate=10.0, dod_end=DOD_END) -> xr.Dataset:
    """The 10C, 20 % DOD hoop stress of the hollow sphere with the same table at smaller D (m²/s):
    the other knob that sets the size. Returns ``void_hoop``, ``surface_hoop`` and ``peak_hoop``
    (the largest |hoop| anywhere over the run, Pa) on dim ``diffusivity``."""
    t_end = dod_end * 3600.0 / rate
    rows = []
    for d in values:
        st = lm.simulate_stress(SHAPE, f"Discharge at {rate:g}C for {t_end:.10g} seconds", material="lrtmo",
                                diffusivity=d, theta0=charged_theta0(), times="6s", dod=[dod_end])
        prof = st.hoop_stress_at_dod.isel(dod=0)
        rows.append((float(prof.isel(r=0)), float(prof.isel(r=-1)), float(abs(st.hoop_stress).max())))
    v = np.array(rows)
    coord = {"diffusivity": ("diffusivity", list(values), {"units": "m^2/s"})}
    return xr.Dataset({k: ("diffusivity", v[:, i], {"units": "Pa"})
                       for i, k in enumerate(("void_hoop", "surface_hoop", "peak_hoop"))}, coords=coord)


def fig5(rates=RATES, dods=DODS, n_times=41, mesh=None) -> xr.Dataset:
    """Everything of panels d–g, with the paper's numbers and the strain slope as attrs.

    Returns
    -------
    xarray.Dataset
        ``hoop_stress_at_dod`` (rate, dod, r); ``void_hoop_stress`` (rate, dod); ``bridge_hoop_stress``,
        ``bridge_von_mises_stress`` (rate, step) with ``bridge_dod`` (rate, step); ``ratio_void_hoop``
        (dod): the fastest over the slowest rate.
    """
    runs = {c: discharge(c, dods=dods, n_times=n_times) for c in rates}
    prof = hoop_profiles(runs)
    hist = [bridge_history(c, mesh=mesh, n_times=n_times) for c in sorted(runs)]
    out = xr.Dataset({"hoop_stress_at_dod": prof, "void_hoop_stress": prof.isel(r=0, drop=True)})
    rate_dim = prof["rate"]
    for name in ("bridge_hoop_stress", "bridge_von_mises_stress", "void_hoop_stress_fe"):
        out[name] = xr.concat([h[name].drop_vars(["time", "dod"]).rename(time="step") for h in hist], dim=rate_dim)
    out["bridge_dod"] = xr.concat([xr.DataArray(h.dod.values, dims="step") for h in hist], dim=rate_dim)
    fast, slow = max(rates), min(rates)
    peak = [runs[c]["probe_hoop_stress"].sel(probe="void") for c in sorted(rates)]
    out["void_hoop_peak"] = ("rate", [float(p.max()) for p in peak], {"units": "Pa"})
    out["void_hoop_peak_dod"] = ("rate", [float(runs[c]["depth_of_discharge"][int(np.argmax(p.values))])
                                          for c, p in zip(sorted(rates), peak)], {"units": "1"})
    out["bridge_hoop_peak"] = out["bridge_hoop_stress"].max("step")
    out["bridge_hoop_peak_dod"] = out["bridge_dod"].isel(step=out["bridge_hoop_stress"].argmax("step"))
    v = out["void_hoop_stress"]
    out["ratio_void_hoop"] = v.sel(rate=fast) / v.sel(rate=slow)
    # the bridge at the DODs (linear in DOD between FE steps)
    for name in ("bridge_hoop_stress", "bridge_von_mises_stress"):
        out[f"{name}_at_dod"] = xr.concat(
            [xr.DataArray(np.interp(list(dods), out["bridge_dod"].sel(rate=c).values, out[name].sel(rate=c).values),
                          dims="dod") for c in sorted(rates)], dim=rate_dim).assign_coords(dod=list(dods))
    th = np.concatenate([runs[c]["theta"].values.ravel() for c in rates])
    th_fast = runs[fast]["theta"].values
    slope_all, slope_fast = strain_slope(th.min(), th.max()), strain_slope(th_fast.min(), th_fast.max())
    # the partial molar volume that would give the paper's number on the same lithium field (stress is linear in it)
    field = runs[fast][["theta", "theta_mean"]].assign_attrs(runs[fast].attrs)  # the lithium field only
    lin = lm.particle_stress(field, "lrtmo", partial_molar_volume=1e-6, dod=[max(dods)])
    omega_for_paper = 1e-6 * PAPER_HOOP_10C_20DOD / float(lin["hoop_stress_at_dod"].isel(dod=0, r=0))
    out["void_hoop_quasi_steady"] = ("rate", [quasi_steady_void_hoop(c, float(runs[c]["theta"].isel(time=-1, r=0)))
                                              for c in sorted(rates)], {"units": "Pa"})
    out.attrs.update(
        omega_for_paper=omega_for_paper,
        omega_equivalent=3 * slope_fast["chord"] / mechanical_properties("lrtmo").c_max,
        theta0=charged_theta0(), capacity_fraction=lrtmo().capacity_fraction, rate_fast=fast, rate_slow=slow,
        paper_hoop_10C_20DOD=PAPER_HOOP_10C_20DOD, paper_ratio=PAPER_RATIO,
        youngs_modulus=mechanical_properties("lrtmo").youngs_modulus,
        poisson_ratio=mechanical_properties("lrtmo").poisson_ratio,
        slope_chord=slope_fast["chord"], slope_chord_all=slope_all["chord"], slope_table_max=slope_fast["table_max"],
        slope_segments="; ".join(f"{a:g}-{b:g}: {v:.2e}" for a, b, v in slope_fast["segments"]),
        theta_min=slope_all["theta_min"],
        theta_max=slope_all["theta_max"], theta_max_fast=slope_fast["theta_max"],
        theta_surface_gap_fast=float((runs[fast]["theta"].isel(r=-1) - runs[fast]["theta"].isel(r=0)).max()),
        slope_for_paper=omega_for_paper * mechanical_properties("lrtmo").c_max / 3,  # the linear strain's slope
        c_max=float(mechanical_properties("lrtmo").c_max),
        bridge_r=hist[0].attrs["bridge_r"], bridge_z=hist[0].attrs["bridge_z"],
        n_elements=hist[0].attrs["n_elements"], mesh_min_size=hist[0].attrs["mesh_min_size"],
        transport_nodes=hist[0].attrs["transport_nodes"],
        lithium_drift=max(h.attrs["lithium_drift"] for h in hist))
    return out


def summary(ds) -> str:
    fast, slow = ds.rate_fast, ds.rate_slow
    lines = [f"lrtmo 8 um sphere, 0.5 um void; lithiation from theta0 = {ds.theta0:.3f} (1 - f, f = "
             f"{ds.capacity_fraction:.4f}); DOD = charge / practical capacity"]
    for c in (slow, fast):
        v = ds.void_hoop_stress.sel(rate=c)
        b = ds.bridge_hoop_stress_at_dod.sel(rate=c)
        m = ds.bridge_von_mises_stress_at_dod.sel(rate=c)
        for d in ds.dod.values:
            lines.append(f"  {c:g}C DOD {d:4.2f}: hoop at void (closed form) {float(v.sel(dod=d)):.3e} Pa; bridge "
                         f"hoop {float(b.sel(dod=d)):.3e} Pa, von Mises {float(m.sel(dod=d)):.3e} Pa")
    for c in (slow, fast):
        lines.append(f"  {c:g}C peak over the run: void hoop {float(ds.void_hoop_peak.sel(rate=c)):.3e} Pa at DOD "
                     f"{float(ds.void_hoop_peak_dod.sel(rate=c)):.3f}; bridge hoop "
                     f"{float(ds.bridge_hoop_peak.sel(rate=c)):.3e} Pa at DOD "
                     f"{float(ds.bridge_hoop_peak_dod.sel(rate=c)):.3f}")
    r = ds.ratio_void_hoop
    lines.append(f"  ratio {fast:g}C / {slow:g}C of the void hoop stress: "
                 + ", ".join(f"DOD {d:.2f}: {float(r.sel(dod=d)):.1f}" for d in ds.dod.values))
    ours = float(ds.void_hoop_stress.sel(rate=fast, dod=ds.dod.values.max()))
    lines.append(f"  paper: {ds.paper_hoop_10C_20DOD:.3g} Pa at 10C and 20 % DOD (ours {ours:.3g} Pa, "
                 f"{ds.paper_hoop_10C_20DOD / ours:.0f}x smaller); ratio >= {ds.paper_ratio:g}")
    lines.append(f"  strain slope d eps/d theta over theta {ds.theta_min:.3f}-{ds.theta_max_fast:.3f} (10C): "
                 f"{ds.slope_chord:.2e} (table segments {ds.slope_segments}); largest in the table "
                 f"{ds.slope_table_max:.2e}; the paper's number needs {ds.slope_for_paper:.2e}")
    if "sens_peak_hoop" in ds:
        lines.append("  the same table at smaller D (10C, 20 % DOD): " + "; ".join(
            f"D = {d:.0e} m^2/s: void {v:.2e}, surface {s:.2e}, peak |hoop| {p:.2e} Pa" for d, v, s, p in
            zip(ds.sens_diffusivity.values, ds.sens_void_hoop.values, ds.sens_surface_hoop.values,
                ds.sens_peak_hoop.values)))
    q = ds.void_hoop_quasi_steady
    lines.append("  quasi-steady estimate at the void, Goodier x 2E/(3(1-nu)) x deps/dtheta x (dtheta/dt) R^2/(10 D): "
                 + ", ".join(f"{c:g}C {float(q.sel(rate=c)):.3e} Pa" for c in (slow, fast)))
    lines.append(f"  linear route: the paper's number needs Omega = {ds.omega_for_paper:.2e} m^3/mol (the table's "
                 f"chord is equivalent to {ds.omega_equivalent:.2e} m^3/mol)")
    lines.append(f"  10C surface - void theta gap at most {ds.theta_surface_gap_fast:.3f}; bridge point at "
                 f"z = {ds.bridge_z * 1e6:.2f} um; coupled run: {ds.transport_nodes} transport nodes, FE "
                 f"{ds.n_elements} elements, lithium conserved to {ds.lithium_drift:.1e}")
    return "\n".join(lines)


def main(out_dir="examples/figures"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds = fig5()
    sens = diffusivity_sensitivity()
    for k in sens.data_vars:
        ds[f"sens_{k}"] = sens[k].rename(diffusivity="sens_diffusivity")
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.4))
    r_um = ds.r * 1e6
    for ax, c, tag in ((axes[0, 0], ds.rate_slow, "d"), (axes[0, 1], ds.rate_fast, "e")):
        for d in ds.dod.values:
            ax.plot(r_um, ds.hoop_stress_at_dod.sel(rate=c, dod=d) / 1e6, label=f"DOD {d * 100:g} %")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(f"{tag}: hoop stress, {c:g}C (closed form, hollow sphere)", fontsize=9)
        ax.set_xlabel("r (µm)")
        ax.set_ylabel("σ_θθ (MPa)")
        ax.legend(fontsize=7)
    for ax, c, tag in ((axes[1, 0], ds.rate_slow, "f"), (axes[1, 1], ds.rate_fast, "g")):
        dod = ds.bridge_dod.sel(rate=c) * 100
        ax.plot(dod, ds.bridge_von_mises_stress.sel(rate=c) / 1e6, label="von Mises")
        ax.plot(dod, ds.bridge_hoop_stress.sel(rate=c) / 1e6, "--", label="hoop")
        ax.set_title(f"{tag}: bridge point (coupled model, void + 2 pores), {c:g}C", fontsize=9)
        ax.set_xlabel("DOD (%)")
        ax.set_ylabel("stress (MPa)")
        ax.legend(fontsize=7)
    fig.suptitle(f"lrtmo 8 µm, 0.5 µm void: lithiation from θ0 = {ds.theta0:.3f} (assumed lattice table, E, ν)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "stress_fig5.png", dpi=100)
    text = summary(ds)
    (out / "stress_fig5.txt").write_text(text + "\n")
    print(text)
    print(f"wrote {out / 'stress_fig5.png'}")
    return ds


if __name__ == "__main__":
    main(*sys.argv[1:])
