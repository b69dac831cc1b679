"""Closed-form stress of solid and hollow spheres from the engine's lithium field: exactness and
order of the integrals, traction-free surfaces, Goodier's factor, the long-time constant-current
solution, PyBaMM's surface formula on the same θ, the strain routes and the lrtmo preset."""

import json
from pathlib import Path

import numpy as np
import pytest

import lithmap as lm
from lithmap.errors import LithmapError
from lithmap.mechanics.strain import LatticeTable, chemical_strain, elastic_constants, mechanical_properties
from lithmap.mechanics.stress import cumulative_moment_matrix, goodier_factor, sphere_stress_arrays
from lithmap.physics.geometry import HollowSphere, Sphere
from lithmap.physics.materials import lrtmo, lrtmo_diffusivity

E, NU = 1e11, 0.3
K = E / (1 - NU)
MECH = dict(youngs_modulus=E, poisson_ratio=NU, partial_molar_volume=2e-6, c_max=5e4)
PYBAMM = Path(__file__).parent / "data" / "pybamm_stress" / "pybamm_stress.json"

# A degree-4 strain profile with exact moments: ε(x) = x − 2x³ + 3x⁴ (x = r/b), in units of 1e-3.
COEF = {1: 1.0, 3: -2.0, 4: 3.0}


def _eps(r, b):
    x = r / b
    return 1e-3 * sum(c * x**p for p, c in COEF.items())


def _moment(r, a, b):
    """M(r) = 3 ∫ₐʳ ε s² ds, exactly."""
    return 3e-3 * sum(c * (r ** (p + 3) - a ** (p + 3)) / ((p + 3) * b**p) for p, c in COEF.items())


def _exact(r, a, b):
    M, Mb = _moment(r, a, b), _moment(b, a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_in = np.where(r > 0, M / np.where(r > 0, r, 1) ** 3, _eps(r, b))
        fr = np.where(r > 0, (r**3 - a**3) / np.where(r > 0, r, 1) ** 3, 1.0)
        ft = np.where(r > 0, (2 * r**3 + a**3) / np.where(r > 0, r, 1) ** 3, 2.0)
    shell = b**3 - a**3
    return (2 * K / 3) * (fr * Mb / shell - mean_in), (K / 3) * (ft * Mb / shell + mean_in - 3 * _eps(r, b))


@pytest.mark.parametrize("void", [0.0, 0.5e-6, 3e-6])
def test_closed_forms_converge_at_third_order_to_exact_integrals(void):
    b = 8e-6
    errors = []
    for n in (21, 41, 81, 161):
        r = np.linspace(void, b, n)
        s = sphere_stress_arrays(_eps(r, b), r, E, NU)
        sr, st = _exact(r, void, b)
        scale = np.abs(st).max()
        errors.append(max(np.abs(s["radial_stress"] - sr).max(), np.abs(s["hoop_stress"] - st).max()) / scale)
    order = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    print(f"void={void:g}: relative errors {[f'{e:.2e}' for e in errors]}, observed order {order.round(2)}")
    assert errors[-1] < 1e-5
    assert np.all(order > 2.7)
    # the default graded engine meshes are far inside the 1e-3 the FE comparison needs
    mesh = (HollowSphere(b, void) if void else Sphere(b)).mesh()
    s = sphere_stress_arrays(_eps(mesh.points, b), mesh.points, E, NU)
    sr, st = _exact(mesh.points, void, b)
    assert np.abs(s["hoop_stress"] - st).max() / np.abs(st).max() < 1e-5
    assert np.abs(s["radial_stress"] - sr).max() / np.abs(st).max() < 1e-5


def test_moment_matrix_is_exact_for_quadratics_on_graded_nodes():
    r = HollowSphere("8um", "0.5um").mesh().points
    for p in (0, 1, 2):
        exact = 3 * (r ** (p + 3) - r[0] ** (p + 3)) / (p + 3)
        assert np.allclose(cumulative_moment_matrix(r) @ r**p, exact, rtol=1e-12, atol=1e-12 * exact[-1])


@pytest.mark.parametrize("void", [0.0, 0.5e-6])
def test_free_surfaces_equilibrium_and_invariants(void):
    b = 8e-6
    r = (HollowSphere(b, void) if void else Sphere(b)).mesh().points
    eps = np.vstack([_eps(r, b), -2e-3 * (r / b) ** 2 + 1e-4 * np.sin(9 * r / b)])
    s = sphere_stress_arrays(eps, r, E, NU)
    scale = np.abs(s["hoop_stress"]).max()
    assert np.abs(s["radial_stress"][:, -1]).max() <= 1e-12 * scale
    if void:
        assert np.abs(s["radial_stress"][:, 0]).max() <= 1e-12 * scale
    assert np.allclose(s["hydrostatic_stress"], (s["radial_stress"] + 2 * s["hoop_stress"]) / 3)
    assert np.allclose(s["von_mises_stress"], np.abs(s["radial_stress"] - s["hoop_stress"]))
    # equilibrium dσ_r/dr + 2(σ_r − σ_θ)/r = 0 (central differences on a uniform mesh)
    ru = np.linspace(void, b, 2001)
    su = sphere_stress_arrays(_eps(ru, b), ru, E, NU)
    d_r = np.gradient(su["radial_stress"], ru)[1:-1]
    t_2 = 2 * (su["radial_stress"] - su["hoop_stress"])[1:-1] / ru[1:-1]
    assert np.abs(d_r + t_2).max() / np.abs(d_r).max() < 1e-3  # second-order differences, steep at the void
    # a uniform strain makes no stress
    u = sphere_stress_arrays(np.full(r.size, 3e-3), r, E, NU)
    assert max(np.abs(v).max() for v in u.values()) < 1e-9 * K * 3e-3


@pytest.mark.parametrize("void, factor", [("0.5um", 1.4906), ("0.2um", 1.4985)])
def test_goodier_factor_at_a_small_cavity(void, factor):
    b = 8e-6
    solid, hollow = Sphere(b).mesh().points, HollowSphere(b, void).mesh().points
    centre = sphere_stress_arrays(-1e-3 * (solid / b) ** 2, solid, E, NU)["hoop_stress"][0]
    cavity = sphere_stress_arrays(-1e-3 * (hollow / b) ** 2, hollow, E, NU)["hoop_stress"][0]
    assert cavity / centre == pytest.approx(factor, abs=1e-4)
    assert goodier_factor(void, b) == pytest.approx(factor, abs=1e-4)


def test_engine_long_time_constant_current_matches_the_closed_solution():
    R, D, rate = 8e-6, 5e-13, 0.1
    ds = lm.simulate(f"sphere:{R}", f"Charge at {rate}C for 1 hour", diffusivity=D, theta0=0.95, times=[0, 3600])
    st = lm.particle_stress(ds, **MECH)
    J = rate * R / (3 * 3600) * MECH["c_max"]  # mol/m²/s
    P = MECH["partial_molar_volume"] * E * (J * R / D) / (15 * (1 - NU))
    x = st.r.values / R
    last = st.isel(time=-1)
    assert np.abs(last.hoop_stress.values - P * (2 * x**2 - 1)).max() < 1e-6 * P
    assert np.abs(last.radial_stress.values - P * (x**2 - 1)).max() < 1e-6 * P
    assert np.abs(last.von_mises_stress.values - P * x**2).max() < 1e-6 * P
    # with the engine's own hollow-sphere field the zero-flux void changes the profile near it:
    hollow = lm.particle_stress(lm.simulate("sphere:8um:void=0.5um", "Charge at 0.1C for 1 hour", diffusivity=D,
                                            theta0=0.95, times=[0, 3600]), **MECH)
    ratio = float(hollow.hoop_stress.isel(time=-1, r=0) / last.hoop_stress.isel(r=0))
    print(f"engine fields: void hoop / solid centre hoop = {ratio:.4f} (Goodier, same profile: 1.4906)")
    assert 1.45 < ratio < 1.4906


def _pybamm():
    return json.loads(PYBAMM.read_text())


def test_surface_hoop_stress_equals_pybamm_surface_formula_on_the_same_theta():
    data = _pybamm()
    k, run = data["constants"], data["runs"]["fine"]
    R, rc = run["radius"], np.array(run["r_centres"])
    c, cs = np.array(run["c"]), np.array(run["c_surf"])
    c0 = c[:, 0] - (c[:, 1] - c[:, 0]) * rc[0] ** 2 / (rc[1] ** 2 - rc[0] ** 2)  # even in r at the centre
    nodes, cc = np.concatenate([[0], rc, [R]]), np.column_stack([c0, c, cs])
    s = sphere_stress_arrays(k["partial_molar_volume"] * cc / 3, nodes, k["youngs_modulus"], k["poisson_ratio"])
    pb = np.array(run["stress_t_surf"])
    rel = np.abs(s["hoop_stress"][:, -1] - pb).max() / np.abs(pb).max()
    print(f"same theta: surface hoop vs PyBaMM {data['pybamm_version']}: max rel. diff {rel:.1e}")
    assert rel < 2e-4
    assert np.abs(s["radial_stress"][:, -1]).max() == 0 and np.abs(run["stress_r_surf"]).max() == 0


def test_engine_surface_hoop_stress_matches_pybamm():
    data = _pybamm()
    k, run = data["constants"], data["runs"]["fine"]
    t, c_rav = np.array(run["time"]), np.array(run["c_rav"])
    rate = -(c_rav[-1] - c_rav[0]) / k["c_max"] / (t[-1] - t[0]) * 3600
    ds = lm.simulate(f"sphere:{run['radius']}", f"Charge at {rate}C for {t[-1]} seconds", diffusivity=k["diffusivity"],
                     theta0=k["theta0"], times=list(t))
    st = lm.particle_stress(ds, youngs_modulus=k["youngs_modulus"], poisson_ratio=k["poisson_ratio"],
                            partial_molar_volume=k["partial_molar_volume"], c_max=k["c_max"])
    pb = np.array(run["stress_t_surf"])
    rel = np.abs(st.hoop_stress.isel(r=-1).values - pb).max() / np.abs(pb).max()
    print(f"engine vs PyBaMM surface hoop stress: max rel. diff {rel:.1e}")
    assert rel < 3e-3
    assert np.allclose(st.theta_mean.values, c_rav / k["c_max"], atol=1e-9)


def test_hollow_sphere_mesh_and_lithium_conservation():
    h = HollowSphere("8um", "0.5um")
    m = h.mesh()
    assert m.points[0] == pytest.approx(0.5e-6) and m.points[-1] == pytest.approx(8e-6)
    assert m.volume.sum() == pytest.approx(4 / 3 * np.pi * (8e-6**3 - 0.5e-6**3), rel=1e-12)
    assert np.all(np.diff(m.points) > 0) and np.diff(m.points)[-1] < 1e-8
    ds = lm.simulate(h, "Charge at 10C for 72 seconds", diffusivity=5e-13, theta0=0.99, times="12s")
    assert np.allclose(0.99 - ds.theta_mean.values, 10 * ds.time.values / 3600, atol=1e-12)
    assert float(ds.r[0]) == pytest.approx(0.5e-6)
    for bad in ("sphere:8um:void=8um", "sphere:8um:void=9um", "sphere:8um:void=0um"):
        with pytest.raises(LithmapError, match="void"):
            lm.parse_shape(bad)


def test_strain_routes_and_lattice_table():
    th = np.linspace(0.0, 1.0, 11)
    lin = chemical_strain(th, partial_molar_volume="2e-6m^3/mol", c_max="50000mol/m^3", theta_ref=0.5)
    assert np.allclose(lin, 2e-6 * 5e4 * (th - 0.5) / 3)
    table = LatticeTable([0, 0.5, 1], [2.83, 2.829, 2.851], [14.3, 14.385, 14.232], source="t")
    v = table.a**2 * table.c * np.sin(np.pi / 3)
    assert np.allclose(table.strain(table.theta, 1.0), np.cbrt(v / v[-1]) - 1, rtol=1e-14)
    with pytest.raises(LithmapError, match="covers theta 0 to 1"):
        table.strain([0.5, 1.01])
    csvfile = Path(__file__).parent / "data" / "pybamm_stress" / "lattice_partial.csv"
    part = LatticeTable.from_csv(csvfile)
    assert part.range == (0.6, 1.0)
    p = mechanical_properties(youngs_modulus="100GPa", poisson_ratio=0.25, lattice=csvfile)
    assert p.route == "lattice" and p.attrs()["youngs_modulus"] == 1e11
    ds = lm.simulate("sphere:2um", "Charge at 1C for 30 minutes", diffusivity=1e-14, theta0=0.99, times="300s")
    with pytest.raises(LithmapError, match="covers theta 0.6 to 1"):
        lm.particle_stress(ds, youngs_modulus="100GPa", poisson_ratio=0.25, lattice=csvfile)


@pytest.mark.parametrize("kwargs, match", [
    (dict(youngs_modulus=0, poisson_ratio=0.3), "youngs_modulus"),
    (dict(youngs_modulus="-1GPa", poisson_ratio=0.3), "youngs_modulus"),
    (dict(youngs_modulus="1GPa", poisson_ratio=0.5), "poisson_ratio"),
    (dict(youngs_modulus="1GPa", poisson_ratio=0.7), "poisson_ratio"),
    (dict(youngs_modulus="1 m", poisson_ratio=0.3), "youngs_modulus"),
])
def test_bad_elastic_constants(kwargs, match):
    with pytest.raises(LithmapError, match=match):
        elastic_constants(**kwargs)


def test_particle_stress_outputs_dod_probes_and_attrs():
    st = lm.simulate_stress("sphere:8um:void=0.5um", "Charge at 10C for 72 seconds", material="lrtmo", theta0=0.99,
                            times="6s", dod=[0.1, 0.2], probe="void,surface,4um")
    for name in ("radial_stress", "hoop_stress", "hydrostatic_stress", "von_mises_stress"):
        assert st[name].dims == ("time", "r") and st[name].attrs["units"] == "Pa"
    assert st.hoop_stress_at_dod.dims == ("dod", "r")
    assert float(st.depth_of_discharge[-1]) == pytest.approx(0.2, abs=1e-9)
    assert np.allclose(st.hoop_stress_at_dod.sel(dod=0.2), st.hoop_stress.isel(time=-1))
    assert list(st.probe.values) == ["void", "surface", "4um"]
    assert np.allclose(st.probe_hoop_stress.sel(probe="void"), st.hoop_stress.isel(r=0))
    for key in ("youngs_modulus", "poisson_ratio", "c_max"):
        assert isinstance(st.attrs[key], float)
    assert st.attrs["strain_route"] == "lattice" and "assumed" in st.attrs["mechanics_source"]
    with pytest.raises(LithmapError, match="dod=0.3 is not reached"):
        lm.stress_at_dod(st, 0.3)
    with pytest.raises(LithmapError, match="outside the material"):
        lm.particle_stress(st, probe="0.1um")
    with pytest.raises(LithmapError, match="this result is a cylinder"):
        lm.particle_stress(lm.simulate("cylinder:1um", "Charge at 1C for 1 minute", diffusivity=1e-15), **MECH)


def test_lrtmo_preset_arrhenius_clamp_and_rate_scaling():
    assert lrtmo_diffusivity(298.0) == 5e-13
    assert lrtmo_diffusivity("323.15K") == pytest.approx(5e-13 * np.exp(1200 * (1 / 298 - 1 / 323.15)))
    for t in (200.0, 400.0):
        with pytest.raises(LithmapError, match="outside the Arrhenius clamp 223.15-393.15 K"):
            lrtmo(t)
    m = lrtmo()
    assert m.voltage_window == (2.0, 4.8) and "Liu, Zeng et al." in m.provenance["paper"]
    # quasi-steady: stress ∝ rate, so 10C / 0.1C at the same DOD is ~100 (not fitted, a check)
    peaks = {}
    for rate, dur in (("10C", 72), ("0.1C", 7200)):
        st = lm.simulate_stress("sphere:8um:void=0.5um", f"Charge at {rate} for {dur} seconds", material="lrtmo",
                                theta0=0.99, times=f"{dur / 12}s", dod=0.2)
        peaks[rate] = float(np.abs(st.hoop_stress_at_dod).max())
    print(f"lrtmo 8um/0.5um void, 20% DOD: peak |hoop| 10C {peaks['10C']:.3e} Pa, 0.1C {peaks['0.1C']:.3e} Pa")
    assert 50 < peaks["10C"] / peaks["0.1C"] < 110


def test_a_stressed_result_is_stressed_afresh_with_new_depths():
    """particle_stress on its own output with other DODs and probes: no stale coordinates (NaN)."""
    ds = lm.simulate("sphere:8um:void=0.5um", "Charge at 1C for 5 minutes", diffusivity=5e-13, theta0=0.99,
                     times="30s")
    kw = dict(youngs_modulus="100GPa", poisson_ratio=0.3, partial_molar_volume="2e-6m^3/mol", c_max="50000mol/m^3")
    first = lm.particle_stress(ds, dod=[0.02, 0.04], probe="void", **kw)
    again = lm.particle_stress(first, dod=[0.03, 0.05, 0.06], probe="surface", **kw)
    assert again.hoop_stress_at_dod.sizes["dod"] == 3 and np.isfinite(again.hoop_stress_at_dod.values).all()
    assert list(again.probe.values) == ["surface"]
    np.testing.assert_allclose(again.hoop_stress.values, first.hoop_stress.values)
    assert "void surface" in ds.theta_centre.attrs["long_name"]  # a hollow sphere has no centre node


def test_simulate_stress_default_tolerance_resolves_the_stress_transient():
    """The void hoop stress of the lrtmo hollow sphere at 10C and 5 % DOD (still relaxing after
    its early peak) with simulate_stress's default time stepping is within 1 % of a tol 1e-7 run;
    at the engine's plain default (tol 1e-3) it is several % off, which is why stress runs step
    tighter (θ gap across the particle only ~0.04)."""
    from lithmap.mechanics.driver import STRESS_TOL, simulate_stress
    from lithmap.physics.solver import SolverOptions

    t_end = 0.2 * 3600 / 10
    times = list(np.linspace(0.0, t_end, 21))
    run = lambda **kw: simulate_stress("sphere:8um:void=0.5um", f"Discharge at 10C for {t_end:g} seconds",  # noqa: E731
                                       material="lrtmo", theta0=0.338, times=times, dod=[0.05, 0.2], **kw)
    void = lambda st: st.hoop_stress_at_dod.isel(r=0).values  # noqa: E731
    ref = void(run(options=SolverOptions(tol=1e-7)))
    default = void(run())
    loose = void(run(options=SolverOptions(tol=1e-3)))
    assert STRESS_TOL <= 1e-5
    assert np.all(np.abs(default / ref - 1) < 0.01)
    assert np.abs(loose[0] / ref[0] - 1) > np.abs(default[0] / ref[0] - 1)
