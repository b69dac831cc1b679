"""The Python solver (2D meshes, voltage holds and cut-offs) chooses its steps by accuracy alone
and fills in the output times by TR-BDF2's dense output, as the compiled radial loop does; its
2D Jacobians are factored as LDLᵀ of their symmetric part (QDLDL) with SuperLU as the fallback."""

import numpy as np
import pytest

import lithmap as lm
from lithmap.physics.engine import run_batch
from lithmap.physics.solver import LinearSolver, Solver, SolverOptions

STEEP = lm.TabulatedDiffusivity([0.8, 1.0], [1e-16, 1e-18])
DISC_MESH = {"surface_spacing": 40e-9, "max_spacing": 120e-9}


def _disc_run(t_eval, **opts):
    mesh = lm.Disc(1e-6).mesh(**DISC_MESH)
    mat = lm.Material("steep", STEEP)
    (rec,), state = run_batch([mesh], mat, lm.parse_protocol("Charge at C/3 for 30 minutes then Rest for 10 minutes"),
                              alpha=1.0, theta0=0.97, t_eval=t_eval, options=SolverOptions(**opts))
    return mesh, rec, state


def test_output_density_changes_neither_the_steps_nor_the_values_in_2d():
    few = np.linspace(0, 2400, 25)
    many = np.linspace(0, 2400, 2401)  # every 100th of these is one of `few`
    _, r1, s1 = _disc_run(few)
    _, r2, s2 = _disc_run(many)
    assert s1.accepted[0] == s2.accepted[0] and s1.attempted[0] == s2.attempted[0]
    t1, t2 = np.asarray(r1.time), np.asarray(r2.time)
    shared = np.isin(np.round(t2, 9), np.round(t1, 9))
    assert shared.sum() == t1.size
    np.testing.assert_allclose(np.asarray(r2.theta)[shared], np.asarray(r1.theta), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(r2.q)[shared], np.asarray(r1.q), rtol=0, atol=1e-15)
    assert s1.accepted[0] < 150  # far fewer steps than the 2 401 outputs


def test_interpolated_outputs_conserve_lithium_and_follow_the_current_in_2d():
    t = np.linspace(0, 2400, 161)
    mesh, rec, _ = _disc_run(t)
    theta = np.asarray(rec.theta)
    assert np.abs(mesh.mean(theta) + np.asarray(rec.q) - 0.97).max() < 1e-13
    expect = 0.97 - np.clip(np.asarray(rec.time), 0, 1800) / 3 / 3600  # C/3 for 30 min, then rest
    np.testing.assert_allclose(mesh.mean(theta), expect, rtol=0, atol=1e-12)


def test_interpolation_error_is_within_the_step_error():
    """Outputs between steps are as accurate as the steps: against a tight run stepped finely,
    the interpolated samples' error is of the order of the tolerance and falls with it."""
    t = np.linspace(0, 2400, 97)
    _, ref, _ = _disc_run(t, tol=1e-7, max_dt=5.0)
    errs = []
    for tol in (1e-3, 1e-5):
        _, rec, _ = _disc_run(t, tol=tol)
        errs.append(np.abs(np.asarray(rec.theta) - np.asarray(ref.theta)).max())
    assert errs[0] < 3e-3
    assert errs[1] < errs[0] / 10


def test_cc_cv_outputs_hold_the_voltage_and_follow_the_flux_integral():
    """A CC-CV run (Python solver: a hold) sampled every 30 s — interpolated in the CC step,
    solved for in the hold: the held voltage is exact at every output, the current falls
    monotonically in the hold, and the C-rate at the outputs follows the flux integral's slope."""
    ds = lm.simulate(lm.Sphere(1e-6), "Charge at 1C until 4.2 V then Hold at 4.2 V for 20 minutes",
                     material="nmc811", theta0=0.97, times=30.0)
    hold = ds.step.values == 1
    assert hold.sum() > 30
    cc = ds.step.values == 0
    np.testing.assert_allclose(ds.c_rate.values[cc][1:], 1.0, rtol=1e-12)  # interpolated: the imposed 1C
    assert np.all(np.abs(ds.voltage.values[hold] - 4.2) < 1e-12)
    c = ds.c_rate.values[hold]
    assert np.all(np.diff(c) <= 1e-9)
    # dq/dt is proportional to the C-rate (1C moves θ by the preset's capacity fraction per hour)
    t, q = ds.time.values[hold], ds.delithiated.values[hold]
    ratio = (np.gradient(q, t) * 3600 / c)[2:-2]
    assert np.ptp(ratio) < 0.02 * np.median(ratio)


def test_symmetric_factor_matches_the_full_lu():
    """The LDLᵀ of the Jacobian's symmetric part is an approximate factor: the run converges to
    the same answer as with SuperLU's LU of the full Jacobian (to the solver tolerance), with
    lithium conserved exactly either way."""
    t = np.linspace(0, 2400, 25)
    _, sym, _ = _disc_run(t)
    orig = LinearSolver.__init__

    def full_lu(self, model):
        orig(self, model)
        self.symmetric = False

    try:
        LinearSolver.__init__ = full_lu
        mesh, lu, _ = _disc_run(t)
    finally:
        LinearSolver.__init__ = orig
    diff = np.abs(np.asarray(sym.theta) - np.asarray(lu.theta)).max()
    assert diff < 1e-3
    for rec in (sym, lu):
        assert np.abs(mesh.mean(np.asarray(rec.theta)) + np.asarray(rec.q) - 0.97).max() < 1e-13


def test_a_failing_symmetric_factor_falls_back_to_the_full_lu():
    mesh = lm.Disc(1e-6).mesh(**DISC_MESH)
    mat = lm.Material("steep", STEEP)
    from lithmap.physics.experiment import Experiment, SurfaceLimits
    from lithmap.physics.model import ParticleModel

    model = ParticleModel([mesh], mat, 1.0)
    exp = Experiment([lm.parse_protocol("Charge at C/3 for 1 minute")], mat, 1, SurfaceLimits.of(None))
    solver = Solver(model, exp, SolverOptions())
    assert solver.linear.symmetric
    solver.linear.failed(factored_here=False)  # a failure with an old factor: refactor only
    assert solver.linear.symmetric and solver.linear.stale
    solver.linear.failed(factored_here=True)
    assert not solver.linear.symmetric


@pytest.mark.parametrize("interval", [7.0, 60.0])
def test_interval_outputs_are_every_multiple(interval):
    ds = lm.simulate(lm.Disc(1e-6), "Charge at C/3 for 5 minutes", diffusivity=STEEP, theta0=0.97,
                     times=interval, mesh_options=DISC_MESH)
    t = ds.time.values
    k = np.arange(0, np.floor(300 / interval + 1e-9) + 1) * interval
    assert np.all(np.isin(np.round(k, 9), np.round(t, 9)))
    assert np.all(np.diff(t) > 0)
