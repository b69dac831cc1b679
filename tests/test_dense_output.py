"""Output by interpolation: the steps are chosen by accuracy alone, and any number of output
times is filled in by TR-BDF2's dense output (the quadratic through the stage values), at no
extra steps and without losing accuracy, conservation or exact step ends."""

import numpy as np
import pytest

import lithmap as lm
from lithmap.physics.engine import run_batch
from lithmap.physics.simulate import resolve_material
from lithmap.physics.solver import SolverOptions, dense_weights

NMC = resolve_material("nmc811", None)
CHARGE = lm.parse_protocol("Charge at 1C for 4 minutes")
COARSE = np.linspace(0.0, 240.0, 25)  # every 10 s
FINE = np.union1d(np.linspace(0.0, 240.0, 2500), COARSE)  # 2 521 times, the coarse ones among them


def run(t_eval=None, protocol=CHARGE, tol=1e-3, **kw):
    recs, state = run_batch([lm.Sphere(1e-6).mesh()], NMC, protocol, alpha=NMC.alpha, theta0=0.97, t_eval=t_eval,
                            options=SolverOptions(tol=tol), **kw)
    return recs[0], state


def test_step_count_does_not_depend_on_the_output_times():
    coarse, s_coarse = run(COARSE)
    fine, s_fine = run(FINE)
    assert len(coarse.time) == COARSE.size and len(fine.time) == FINE.size > 2500
    np.testing.assert_array_equal(fine.time, FINE)  # the requested times themselves
    # the same accepted steps whatever is asked for: the steps are chosen by accuracy alone
    assert s_fine.accepted[0] == s_coarse.accepted[0] < 40
    assert s_fine.attempted[0] == s_coarse.attempted[0]
    shared = np.searchsorted(FINE, COARSE)
    for name in ("theta", "voltage", "q", "c_rate"):
        a, b = np.asarray(getattr(coarse, name)), np.asarray(getattr(fine, name))[shared]
        assert np.abs(a - b).max() <= 1e-12, name  # identical steps, identical interpolants


def test_output_interval_is_interpolated_too():
    ds1 = lm.simulate("sphere:1um", "Charge at 1C for 4 minutes", material="nmc811", theta0=0.97, times="1s")
    ds10 = lm.simulate("sphere:1um", "Charge at 1C for 4 minutes", material="nmc811", theta0=0.97, times="10s")
    assert ds1.sizes["time"] == 241 and ds10.sizes["time"] == 25
    np.testing.assert_allclose(ds1.theta.sel(time=ds10.time).values, ds10.theta.values, atol=1e-12, rtol=0)


def test_interpolated_outputs_are_as_accurate_as_the_steps():
    """Against a converged run (tol 1e-7): the error at the 2 500 interpolated times is of the
    size of the error at the accepted steps themselves (dense output is O(h³) like the step)."""
    ref, _ = run(FINE, tol=1e-7)
    errors = []
    for tol in (1e-3, 1e-4):
        dense, _ = run(FINE, tol=tol)
        at_steps, _ = run(None, tol=tol)  # every accepted step
        ref_at_steps, _ = run(np.asarray(at_steps.time), tol=1e-7)
        err_dense = np.abs(np.asarray(dense.theta) - np.asarray(ref.theta)).max()
        err_steps = np.abs(np.asarray(at_steps.theta) - np.asarray(ref_at_steps.theta)).max()
        # measured: 8.5e-4 vs 6.9e-4 at tol 1e-3, 1.2e-4 vs 1.1e-4 at tol 1e-4
        assert err_dense <= 1.5 * tol and err_dense <= 1.5 * err_steps, (tol, err_dense, err_steps)
        err_v = np.abs(np.asarray(dense.voltage) - np.asarray(ref.voltage)).max()
        assert err_v <= 0.75 * tol, (tol, err_v)  # measured 3.8e-4 V and 7.0e-5 V
        errors.append(err_dense)
    assert errors[1] < 0.3 * errors[0]  # and it falls with the tolerance


def test_conservation_and_step_ends_at_interpolated_times():
    """θ_mean + q stays θ0 at every interpolated time (the weights sum to one), through a rest
    and a voltage hold; every protocol step ends exactly at its end, a solver time."""
    prot = lm.parse_protocol("Charge at 1C for 100 s then Rest for 70 s then Hold at 3.9 V for 200 s")
    times = np.linspace(0.0, 370.0, 1001)  # the step ends (100 s, 170 s) fall between output times
    rec, _ = run(times, protocol=prot)
    mesh = lm.Sphere(1e-6).mesh()
    t, step = np.asarray(rec.time), np.asarray(rec.step)
    drift = mesh.mean(np.asarray(rec.theta)) + np.asarray(rec.q) - 0.97
    assert np.abs(drift).max() <= 1e-12
    # the step ends are recorded at their times, with the step that ended
    for end, k in ((100.0, 0), (170.0, 1)):
        i = np.flatnonzero(t == end)
        assert i.size == 1 and step[i[0]] == k and step[i[0] + 1] == k + 1
    np.testing.assert_array_equal(np.setdiff1d(t, [100.0, 170.0]), times)
    assert np.all(np.diff(t) > 0)


def test_dense_weights_reproduce_a_quadratic():
    gamma = 2 - np.sqrt(2)
    f = lambda x: 0.3 - 1.7 * x + 2.2 * x**2  # noqa: E731
    x = np.linspace(0, 1, 11)
    w0, w1, w2 = dense_weights(x)
    np.testing.assert_allclose(w0 * f(0) + w1 * f(gamma) + w2 * f(1.0), f(x), atol=1e-14)
    assert dense_weights(0.0)[0] == pytest.approx(1.0)
