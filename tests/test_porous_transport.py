"""The coupled particle model of Liu, Zeng et al. (Nat. Nanotechnol. 2024) on its axisymmetric domain:
the engine's transport on a sphere with a central void and pores (finite volumes on the solid of
revolution, zero flux at the void and pore surfaces), and its stress on the same mesh."""

import json

import numpy as np
import pytest
from scipy import ndimage
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.errors import LithmapError
from lithmap.physics.fem_mesh import PorousSphere, porous_meshes, porous_sphere
from lithmap.physics.materials import FARADAY, GAS_CONSTANT

COARSE = {"surface_spacing": "25nm", "max_spacing": "100nm"}  # for a 1 µm particle
MECH = {"youngs_modulus": "100GPa", "poisson_ratio": 0.3, "partial_molar_volume": "3e-6m^3/mol",
        "c_max": "50000mol/m^3"}


def test_mesh_measures_the_solid_of_revolution():
    g = porous_sphere("8um", void="0.5um", pores=2)
    fe, fv = porous_meshes(g)
    exact = 4 / 3 * np.pi * (8e-6**3 - 0.5e-6**3 - 2 * 0.2e-6**3)
    assert fv.kind == "axisymmetric" and fv.n == fe.nvertices
    assert abs(fv.volume.sum() / exact - 1) < 5e-4  # polygonal boundary: O(h²)
    assert abs(fv.boundary.sum() / (4 * np.pi * 8e-6**2) - 1) < 5e-4
    # lithium crosses the outer surface only: every node with a flux measure is on it
    rho = np.hypot(*fv.points[fv.boundary > 0].T)
    assert np.allclose(rho, 8e-6, rtol=1e-9)
    # the map back to the FE vertices is exact
    assert np.array_equal(fe.p[:, fv.source_index].T, fv.points)
    assert np.all(fv.weight > 0)  # gmsh's triangles are non-obtuse enough for a monotone scheme


@pytest.mark.parametrize("void", [0.0, 0.25e-6])
def test_axisymmetric_transport_equals_the_radial_engine(void):
    """No pores: the (z, r) model of a (hollow) sphere is the radial model (zero flux on the void)."""
    proto = "Charge at 2C for 10 minutes then Rest for 2 minutes"
    kw = {"diffusivity": 1e-15, "theta0": 0.95, "times": "60s"}
    shape = PorousSphere(1e-6, void)
    axi = lm.simulate(shape, proto, mesh_options=COARSE, **kw)
    radial = lm.simulate("sphere:1um" if void == 0 else f"sphere:1um:void={void}m", proto, **kw)
    assert axi.theta.dims == ("time", "z", "r") and axi.theta_node.dims == ("time", "node")
    np.testing.assert_allclose(axi.theta_mean, radial.theta_mean, atol=1e-12)  # same charge passed
    assert float(np.abs(axi.theta_surface - radial.theta_surface).max()) < 2e-3
    rho = np.hypot(axi.node_r, axi.node_z)
    ref = np.array([np.interp(rho, radial.r, row) for row in radial.theta.values])
    assert float(np.abs(axi.theta_node.values - ref).max()) < 3e-3
    spread = float(radial.theta.isel(time=10).max() - radial.theta.isel(time=10).min())
    assert spread > 0.05  # the comparison is of a real gradient


def test_pores_are_zero_flux_and_lithium_is_conserved():
    """Charge, rest and a voltage hold (Butler–Volmer) with pores: Σ V θ + the integrated surface
    flux stays at its start to round-off, and the grid is NaN exactly outside the material. (That
    no lithium crosses a pore surface is checked on the mesh itself: only outer-surface nodes have
    a flux measure, test_mesh_measures_the_solid_of_revolution.)"""
    g = porous_sphere("1um", void="0.1um", pores=2, pore_radius="0.06um", pore_distance="0.25um")
    ds = lm.simulate(g, "Charge at 5C for 3 minutes then Rest for 1 minute then Hold at 3.9 V for 2 minutes",
                     material="lrtmo", theta0=0.9, times="20s", mesh_options=COARSE)
    drift = np.abs(ds.theta_mean + ds.delithiated - ds.theta_mean[0]).max()
    assert float(drift) < 1e-10 * 0.9  # round-off over a few hundred steps (as tests/test_conservation.py)
    assert float(ds.delithiated[-1]) > 0.1
    assert ds.mask.dims == ("z", "r") and int(ds.mask.sum()) < ds.mask.size
    # the grid is NaN exactly outside the material (in the void, the pores and beyond R)
    assert np.array_equal(np.isnan(ds.theta.isel(time=-1).values), ds.mask.values == 0)


def test_coupled_stress_of_a_hollow_sphere_equals_the_closed_form():
    """No pores: the FE stress on the transport's own mesh equals the hollow-sphere closed form
    applied to the radial engine's θ (two discretisations of the same problem)."""
    proto = "Charge at 5C for 4 minutes"
    kw = {"diffusivity": 1e-15, "theta0": 0.95, "times": "60s"}
    axi = lm.particle_stress(lm.simulate(PorousSphere(1e-6, 0.2e-6), proto, mesh_options=COARSE, **kw),
                             probe="void,surface", **MECH)
    rad = lm.particle_stress(lm.simulate("sphere:1um:void=0.2um", proto, **kw), probe="void,surface", **MECH)
    for name in ("hoop_stress", "radial_stress", "von_mises_stress"):
        a = axi[f"probe_{name}"].isel(time=-1)
        b = rad[f"probe_{name}"].isel(time=-1)
        scale = float(np.abs(rad[name].isel(time=-1)).max())
        assert float(np.abs(a - b).max()) < 0.02 * scale, name
    assert float(abs(rad.probe_hoop_stress.sel(probe="void")[-1])) > 1e6
    assert axi.attrs["stress_method"].startswith("axisymmetric finite elements")
    # the profile along the equator, at chosen DODs
    prof = lm.stress_at_dod(axi, [0.05])
    assert prof.dims == ("dod", "distance")
    assert float(prof.distance[0]) == pytest.approx(0.2e-6) and float(prof.distance[-1]) == pytest.approx(1e-6)


def test_bridge_probe_and_profile_through_the_pore():
    g = porous_sphere("1um", void="0.1um", pores=2, pore_radius="0.06um", pore_distance="0.25um")
    st = lm.simulate_stress(g, "Discharge at 10C for 40 seconds", material="lrtmo", theta0=0.3, times="10s",
                            dod="0.05,0.1", mesh_options=COARSE)
    assert list(st.probe.values) == ["bridge", "void", "surface"]
    assert float(st.probe_z.sel(probe="bridge")) == pytest.approx(0.5 * (0.1e-6 + 0.19e-6))
    assert st.hoop_stress.dims == ("time", "z", "r") and st.hoop_stress_at_dod.dims == ("dod", "distance")
    prof = st.hoop_stress_at_dod.sel(dod=0.1)
    d = st.distance.values
    in_pore = (d > 0.19e-6 + 1e-9) & (d < 0.31e-6 - 1e-9)
    assert np.isnan(prof.values[in_pore]).all() and np.isfinite(prof.values[~in_pore]).all()
    # lithiation from the surface: the surface is in compression, the void in tension
    assert float(st.probe_hoop_stress.sel(probe="surface")[-1]) < 0 < float(st.probe_hoop_stress.sel(probe="void")[-1])
    assert json.loads(st.attrs["mesh_options"]) == COARSE


def test_cli_stress_with_pores(tmp_path):
    out = tmp_path / "st.nc"
    args = ["stress", "--shape", "sphere:1um", "--void", "0.1um", "--pores", "2", "--pore-radius", "0.06um",
            "--pore-distance", "0.25um", "--material", "lrtmo", "--protocol", "Discharge at 10C for 20 seconds",
            "--theta0", "0.3", "--times", "10s", "--probe", "bridge", "--surface-spacing", "25nm", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    ds = lm.read_result(out)
    assert ds.hoop_stress.dims == ("time", "z", "r") and list(ds.probe.values) == ["bridge"]
    api = lm.simulate_stress("sphere:1um:void=0.1um:pores=2:pore_radius=0.06um:pore_distance=0.25um",
                             "Discharge at 10C for 20 seconds", material="lrtmo", theta0=0.3, times="10s",
                             probe="bridge", mesh_options={"surface_spacing": "25nm"})
    np.testing.assert_allclose(ds.probe_von_mises_stress, api.probe_von_mises_stress, rtol=1e-9)


@pytest.mark.parametrize("extra, message", [
    (["--pores", "2", "--pore-distance", "0.15um"], "overlaps the central void"),
    (["--pores", "2", "--pore-distance", "0.97um"], "reaches outside the particle"),
    (["--pore-radius", "0.05um"], "need --pores"),
    (["--pores", "2", "--pore-radius", "0.06um", "--pore-distance", "0.25um", "--poisson-ratio", "0.5"],
     "poisson_ratio"),
])
def test_cli_bad_pores_one_line_nothing_written(tmp_path, extra, message):
    out = tmp_path / "st.nc"
    args = ["stress", "--shape", "sphere:1um", "--void", "0.1um", "--material", "lrtmo", "--protocol",
            "Discharge at 10C for 10 seconds", "--theta0", "0.3", "--out", str(out), *extra]
    res = CliRunner().invoke(app, args)
    assert res.exit_code != 0 and message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_shape_text_of_a_porous_sphere():
    g = lm.parse_shape("sphere:8um:void=0.5um:pores=1:pore_radius=0.3um")
    assert isinstance(g, PorousSphere) and g.pores == ((0.0, 1.1e-6, 0.3e-6),)
    for bad, msg in (("sphere:8um:void=0.5um:holes=2", "is not one of"),
                     ("sphere:8um:void=0.5um:pores=two", "not a whole number"),
                     ("sphere:8um:pore_radius=0.3um", "need pores")):
        with pytest.raises(LithmapError, match=msg):
            lm.parse_shape(bad)


def test_butler_volmer_current_distribution():
    """Galvanostatic Butler–Volmer at one particle potential: identical to a uniform flux where the
    surface is uniform (a sphere), evens out the surface where it is not (an ellipse), and
    conserves lithium to round-off."""
    lr = lm.lrtmo()
    proto = "Charge at 2C for 5 minutes"
    kw = {"theta0": 0.9, "times": "60s"}
    # both through the Python solver (a uniform flux on a sphere would take the compiled radial loop,
    # whose dense output differs at the tolerance's level): the same steps, so equal to round-off
    sph = [lm.simulate("sphere:1um", proto, material=lr.replace(
        current_distribution=d, diffusivity=lm.ConstantDiffusivity(1e-15)), options=lm.SolverOptions(compiled=False),
        **kw) for d in ("uniform", "butler-volmer")]
    np.testing.assert_allclose(sph[0].theta, sph[1].theta, atol=1e-9)
    np.testing.assert_allclose(sph[0].voltage, sph[1].voltage, atol=1e-9)
    ell = {d: lm.simulate("ellipse:1umx0.4um", proto, material=lr.replace(
        current_distribution=d, diffusivity=lm.ConstantDiffusivity(1e-16)),
        mesh_options={"surface_spacing": "20nm", "max_spacing": "80nm"}, **kw) for d in ("uniform", "butler-volmer")}
    spread = {d: float(np.nanmax(ds.theta[-1]) - np.nanmin(ds.theta[-1])) for d, ds in ell.items()}
    assert spread["butler-volmer"] < 0.9 * spread["uniform"], spread
    bv = ell["butler-volmer"]
    assert float(np.abs(bv.theta_mean + bv.delithiated - bv.theta_mean[0]).max()) < 1e-12
    np.testing.assert_allclose(bv.theta_mean, ell["uniform"].theta_mean, atol=1e-12)  # the same charge passed


def test_lithium_metal_counter_electrode_adds_its_overpotential():
    lr = lm.lrtmo().replace(diffusivity=lm.ConstantDiffusivity(1e-15))
    kw = {"theta0": 0.9, "times": "60s", "material": None}
    cell = lm.simulate("sphere:1um", "Charge at 2C for 3 minutes then Rest for 1 minute", **{**kw, "material": lr})
    ref = lm.simulate("sphere:1um", "Charge at 2C for 3 minutes then Rest for 1 minute",
                      **{**kw, "material": lr.replace(counter_exchange_current=None)})
    c_max, area = lr.c_max, 4 * np.pi * 1e-12
    volume = 4 / 3 * np.pi * 1e-18
    i = FARADAY * c_max * 2 * lr.capacity_fraction * volume / 3600 / area  # A/m² on the particle surface at 2C
    kT = GAS_CONSTANT * lr.temperature / FARADAY
    charging = cell.c_rate.values > 1
    eta_li = 2 * kT * np.arcsinh(i / (2 * lr.counter_exchange_current))
    np.testing.assert_allclose((cell.voltage - ref.voltage).values[charging], eta_li, rtol=1e-6)
    assert float(abs(cell.voltage - ref.voltage).isel(time=-1)) < 1e-12  # at rest no current, no overpotential
    with pytest.raises(LithmapError, match="counter_exchange_current"):
        lr.replace(counter_exchange_current=-1)
    with pytest.raises(LithmapError, match="current_distribution"):
        lr.replace(current_distribution="even")


def test_ambipolar_migration_doubles_the_diffusivity():
    """The migration term of Liu, Zeng et al. with the electroneutral, zero-current closure:
    J = −D∇C − (D/RT)·F·C·∇φ with ∇φ = (RT/F)∇ln C is −2D∇C, so a run is the α = 2 run."""
    base = lm.get_material("nmc811")
    proto = "Charge at 1C for 10 minutes"
    amb = lm.simulate("sphere:1um", proto, material=base.replace(migration="ambipolar"), alpha=1.0, times="60s")
    two = lm.simulate("sphere:1um", proto, material=base, alpha=2.0, times="60s")
    one = lm.simulate("sphere:1um", proto, material=base, alpha=1.0, times="60s")
    np.testing.assert_allclose(amb.theta, two.theta, atol=1e-12)
    assert float(np.abs(amb.theta - one.theta).max()) > 1e-3
    assert amb.attrs["migration"] == "ambipolar" and one.attrs["migration"] == "none"
    with pytest.raises(LithmapError, match="migration='drift'"):
        base.replace(migration="drift")


def test_stress_of_a_2d_particle_through_the_api_and_the_cli(tmp_path):
    """A movie's particle gets its stress map: θ on the example outline → plane-stress FE."""
    kw = {"youngs_modulus": "150GPa", "poisson_ratio": 0.3, "partial_molar_volume": "2e-6m^3/mol"}
    st = lm.simulate_stress("example", "Charge at 1C for 2 minutes", material="nmc811", times="60s", plane="stress",
                            dod="0.02", **kw)
    assert st.hoop_stress.dims == ("time", "y", "x") and st.hoop_stress_at_dod.dims == ("dod", "y", "x")
    inside = st.mask.values > 0
    assert np.isfinite(st.hoop_stress.isel(time=-1).values[inside]).mean() > 0.98
    assert np.isnan(st.hoop_stress.isel(time=-1).values[~inside]).all()
    # delithiation from the edge contracts it: the edge is in hoop tension, the interior in compression
    edge = inside & ~ndimage.binary_erosion(inside, iterations=2)
    core = ndimage.binary_erosion(inside, iterations=8)
    last = st.hoop_stress.isel(time=-1).values
    assert np.nanmean(last[edge]) > 0 > np.nanmean(last[core])
    assert "plane stress" in st.attrs["stress_method"]
    out = tmp_path / "ex.nc"
    args = ["stress", "--shape", "example", "--material", "nmc811", "--youngs-modulus", "150GPa", "--poisson-ratio",
            "0.3", "--partial-molar-volume", "2e-6m^3/mol", "--protocol", "Charge at 1C for 2 minutes", "--times",
            "60s", "--plane", "stress", "--out", str(out), "--plot"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(lm.read_result(out).hoop_stress, st.hoop_stress, rtol=1e-9, equal_nan=True)
    assert (tmp_path / "ex_stress_map.png").exists()
    res = CliRunner().invoke(app, [*args[:-3], "--void", "0.1um", "--out", str(tmp_path / "bad.nc")])
    assert res.exit_code != 0 and "--void and --pores are for spheres" in res.output


def test_new_user_trial_mends(tmp_path):
    """What a first trial of lithmap stress tripped over: DOD in percent, DOD given as percent
    numbers, two strain routes at once, a unitless modulus, charge labelled as discharge."""
    st = lm.simulate_stress("sphere:2um", "Charge at 2C for 3 minutes", material="lrtmo", theta0=0.99, times="30s",
                            dod="5%,10%")
    np.testing.assert_allclose(st.dod, [0.05, 0.1])
    assert st.depth_of_discharge.attrs["long_name"].startswith("depth of charge")
    assert st.attrs["temperature"] == pytest.approx(298.15)
    with pytest.raises(LithmapError, match=r"dod=5 is not reached.*20 % is 0.2"):
        lm.stress_at_dod(st, "5,10")
    with pytest.raises(LithmapError, match="not both"):
        lm.particle_stress(st, partial_molar_volume="2e-6m^3/mol", lattice=lm.mechanical_properties("lrtmo").lattice)
    res = CliRunner().invoke(app, ["stress", "--shape", "sphere:2um", "--material", "lrtmo", "--protocol",
                                   "Charge at 2C for 1 minute", "--theta0", "0.99", "--youngs-modulus", "150",
                                   "--out", str(tmp_path / "s.nc")])
    assert res.exit_code != 0 and "has no unit" in res.output and not (tmp_path / "s.nc").exists()


def test_counter_electrode_in_a_hold_and_on_discharge():
    """A hold holds the cell voltage: at the switch from constant current the current does not
    jump up (the particle potential is solved with the lithium-metal overpotential); on a
    discharge the overpotential lowers the cell voltage."""
    lr = lm.lrtmo().replace(diffusivity=lm.ConstantDiffusivity(1e-15), counter_exchange_current=0.5)
    ds = lm.simulate("sphere:1um", "Charge at 5C until 4.3 V then Hold at 4.3 V for 2 minutes", material=lr,
                     theta0=0.9, times="5s")
    hold = ds.step.values == 1
    assert hold.any() and np.allclose(ds.voltage.values[hold], 4.3, atol=1e-9)
    cc_end = float(ds.c_rate.values[~hold][-1])
    assert cc_end == pytest.approx(5.0, rel=1e-6)
    assert np.all(ds.c_rate.values[hold] <= 5.0 * (1 + 1e-3))  # decays from the CC value, no jump
    assert float(np.abs(ds.theta_mean + ds.delithiated - ds.theta_mean[0]).max()) < 1e-10
    ref = lr.replace(counter_exchange_current=None)
    proto = "Discharge at 2C for 2 minutes"
    cell = lm.simulate("sphere:1um", proto, material=lr, theta0=0.5, times="30s")
    bare = lm.simulate("sphere:1um", proto, material=ref, theta0=0.5, times="30s")
    assert np.all((cell.voltage - bare.voltage).values[1:] < -1e-3)
    with pytest.raises(LithmapError, match="counter_exchange_current needs"):
        lr.replace(exchange_current=None, current_distribution="uniform")
