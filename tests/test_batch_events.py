"""Batch runs equal single runs; events are located accurately; the end-of-discharge CV hold of
Xu, Merryweather et al., Joule 2022, behaves as the paper describes."""

import numpy as np
import pytest

import lithmap as lm
from lithmap.physics.engine import run_batch
from lithmap.physics.simulate import resolve_material

STEEP = lm.TabulatedDiffusivity([0.8, 1.0], [1e-16, 1e-18])


def test_sweep_equals_individual_runs():
    radius, alpha, rate = [0.5e-6, 1.5e-6], [1.0, 3.0], [0.2, 1.0]
    limits = (0.005, 1.0)
    times = np.arange(0.0, 2401.0, 60.0)  # same outputs, hence the same step sequence per run
    ds = lm.sweep("sphere", radius=radius, alpha=alpha, rate=rate, protocol="Charge at {rate} for 40 minutes",
                  diffusivity=STEEP, theta0=0.97, surface_limits=limits, times=times)
    assert ds.stop_time.dims == ("radius", "alpha", "rate") and ds.stop_time.shape == (2, 2, 2)
    for i, R in enumerate(radius):
        for j, a in enumerate(alpha):
            for k, c in enumerate(rate):
                one = lm.simulate(lm.Sphere(R), f"Charge at {c}C for 40 minutes", diffusivity=STEEP, alpha=a,
                                  theta0=0.97, mesh_options={"surface_spacing": R / 300, "max_spacing": R / 120},
                                  surface_limits=limits, stop_at_limit=True, times=times)
                assert float(ds.stop_time[i, j, k]) == pytest.approx(float(one.time[-1]), rel=1e-9)
                assert float(ds.theta_mean_end[i, j, k]) == pytest.approx(float(one.theta_mean[-1]), abs=1e-9)
                assert float(ds.theta_surface_end[i, j, k]) == pytest.approx(float(one.theta_surface[-1]), abs=1e-9)
                trace = ds.theta_mean.values[i, j, k]
                np.testing.assert_allclose(trace[: one.time.size - 1], one.theta_mean.values[: one.time.size - 1],
                                           atol=1e-9)
    # some runs stopped at the surface limit, others ran the full 40 minutes
    reasons = set(ds.termination.values.ravel())
    assert any("surface theta reached" in r for r in reasons) and "protocol complete" in reasons


def test_batch_runs_with_different_protocols_and_meshes():
    mat = resolve_material(None, STEEP)
    meshes = [lm.Sphere(1e-6).mesh(), lm.Cylinder(0.7e-6).mesh()]
    prots = [lm.parse_protocol("Charge at 1C for 5 minutes then Rest for 5 minutes"),
             lm.parse_protocol("Charge at C/2 for 8 minutes")]
    recs, eng = run_batch(meshes, mat, prots, alpha=[1.0, 2.0], theta0=0.97)
    assert recs[0].time[-1] == pytest.approx(600.0) and recs[1].time[-1] == pytest.approx(480.0)
    for rec, m, q_expected in zip(recs, meshes, [5 / 60, 4 / 60]):
        assert m.mean(rec.theta[-1]) == pytest.approx(0.97 - q_expected, abs=1e-12)


def test_voltage_cut_off_is_located_on_the_cut_off():
    ds = lm.simulate(lm.Sphere(2e-6), "Charge at 1C until 4.2 V then Rest for 10 minutes", material="nmc811",
                     theta0=0.97)
    switch = np.flatnonzero(ds.step.values == 0)[-1]
    assert ds.voltage.values[switch] == pytest.approx(4.2, abs=1e-6)
    assert np.all(ds.voltage.values[: switch] < 4.2 + 1e-6)
    assert ds.attrs["termination"] == "protocol complete"


def test_cv_hold_ends_at_its_current_cut_off():
    ds = lm.simulate(lm.Sphere(2e-6), "Charge at C/2 for 30 minutes then Hold at 3.9 V until C/20", material="nmc811",
                     theta0=0.97)
    hold = ds.step.values == 1
    assert np.all(np.abs(ds.voltage.values[hold] - 3.9) < 1e-12)
    assert abs(ds.c_rate.values[-1]) == pytest.approx(1 / 20, rel=1e-4)
    assert np.all(np.abs(ds.c_rate.values[hold][:-1]) >= 1 / 20 * (1 - 1e-4))


def test_end_of_discharge_cv_hold_recovers_capacity():
    """Xu, Merryweather et al. (Joule 2022): a 1C CC discharge reaches 3.0 V with a lithium-rich
    (saturated) surface and a
    lithium-deficient interior; the CV hold at 3.0 V then inserts more lithium and evens the
    particle out."""
    ds = lm.simulate(
        lm.Sphere(1e-6),
        "Charge at C/3 until 4.3 V then Discharge at 1C until 3.0 V then Hold at 3.0 V for 2 hours",
        material="nmc811", theta0=0.97,
    )
    end_cc = np.flatnonzero(ds.step.values == 1)[-1]
    # the cut-off is reached as the surface saturates, where the voltage falls almost vertically
    # (j0 -> 0): the located step ends at 3.0 V or just below it
    assert 2.9 < ds.voltage.values[end_cc] <= 3.0 + 1e-9
    assert ds.theta_surface.values[end_cc] > 0.999
    spread = lambda i: np.ptp(ds.theta.values[i])  # noqa: E731
    mean = ds.theta_mean.values
    assert ds.theta_surface.values[end_cc] - mean[end_cc] > 0.2  # lithium-rich periphery
    assert mean[-1] - mean[end_cc] > 0.1  # the hold recovers capacity
    assert spread(-1) < 0.5 * spread(end_cc)  # and evens the particle out
    assert np.all(ds.c_rate.values[ds.step.values == 2] <= 0)  # a discharge current throughout
    assert np.all(np.diff(mean[ds.step.values == 2]) >= -1e-12)


def test_charge_rest_relaxes_to_uniform():
    """Xu, Merryweather et al., Joule 2022, Fig. 2C-D: heterogeneity that builds during 20 min of
    charge disappears on rest."""
    ds = lm.simulate(lm.Sphere(1e-6), "Charge at C/3 for 20 minutes then Rest for 3 hours", material="nmc811",
                     theta0=0.97)
    end = np.flatnonzero(ds.step.values == 0)[-1]
    spread = np.ptp(ds.theta.values, axis=1)
    assert spread[end] > 0.05
    # with the preset's D_app(0.9) ~ 1e-17 m^2/s the diffusion length in 3 h is ~0.3 um: the
    # spread decays monotonically and several-fold (the paper sees the particle even out)
    assert spread[-1] < 0.3 * spread[end]
    assert np.all(np.diff(spread[end:]) <= 1e-12)
    assert ds.theta_mean.values[-1] == pytest.approx(ds.theta_mean.values[end], abs=1e-12)


def test_output_interval_continues_until_the_protocol_ends():
    """Frames at every multiple of the interval, however long an 'until' step runs."""
    ds = lm.simulate(lm.Sphere(1e-6), "Charge at C/2 for 20 minutes then Hold at 3.8 V until C/100",
                     material="nmc811", theta0=0.97, times=120.0)
    t = ds.time.values
    on_grid = t[np.isclose(t / 120.0, np.round(t / 120.0), atol=1e-9)]
    assert t[-1] > 3 * 1200  # the hold outlasts the charge several times
    np.testing.assert_allclose(np.diff(on_grid), 120.0)
    assert on_grid[-1] > t[-1] - 120.0  # no gap at the end
