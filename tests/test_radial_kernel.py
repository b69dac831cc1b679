"""The compiled radial step loop (lithmap.physics._radial, issue 13): the same algorithm as the
Python solver, with output times filled in by TR-BDF2's dense output instead of stepped to."""

from __future__ import annotations

import numpy as np
import pytest

import lithmap as lm
from lithmap.physics import _radial
from lithmap.physics.engine import run_batch
from lithmap.physics.experiment import Experiment, SurfaceLimits
from lithmap.physics.model import ParticleModel

PROTOCOL = "Charge at 1C for 4 minutes then Rest for 2 minutes then Charge at 2C for 1 minute"
STEEP = lm.TabulatedDiffusivity([0.8, 1.0], [1e-16, 1e-18])  # D falls 100x as the particle fills


def _sim(compiled, times, tol=1e-3, **kw):
    return lm.simulate("sphere:5um", PROTOCOL, material="nmc811", times=times,
                       options=lm.SolverOptions(tol=tol, compiled=compiled), **kw)


def test_compiled_loop_is_as_accurate_as_the_python_solver_and_converges():
    """Against a tol = 1e-7 reference: the compiled loop (steps by accuracy, outputs interpolated)
    is within 1.5x the Python solver's error (which steps to each of the 241 outputs, so takes
    smaller steps), and its error falls with the tolerance."""
    times = np.linspace(0, 420, 241)
    ref = _sim(False, times, 1e-7)
    err, v_err = {}, {}
    for tol in (1e-3, 1e-5):
        a, b = _sim(True, times, tol), _sim(False, times, tol)
        np.testing.assert_array_equal(a.step, b.step)
        np.testing.assert_allclose(a.c_rate, b.c_rate, rtol=0, atol=1e-12)
        err[tol] = float(np.abs(a.theta - ref.theta).max())
        assert err[tol] <= 1.5 * float(np.abs(b.theta - ref.theta).max())
        v_err[tol] = float(np.abs(a.voltage - ref.voltage).max())  # V
    assert err[1e-3] < 2e-3
    assert err[1e-5] < err[1e-3] / 10
    assert v_err[1e-3] < 2e-3 and v_err[1e-5] < v_err[1e-3] / 10  # the OCV slope (~2 V) times the surface θ's


def test_output_density_changes_neither_the_steps_nor_the_values():
    mat = lm.nmc811()
    mesh = lm.Sphere(5e-6).mesh()
    steps = lm.parse_protocol(PROTOCOL)
    few = np.linspace(0, 420, 25)
    many = np.linspace(0, 420, 2401)  # every 25th of these is one of `few`
    (r1,), s1 = run_batch([mesh], mat, steps, alpha=2.7, theta0=0.97, t_eval=few)
    (r2,), s2 = run_batch([mesh], mat, steps, alpha=2.7, theta0=0.97, t_eval=many)
    assert s1.accepted[0] == s2.accepted[0] and s1.attempted[0] == s2.attempted[0]
    t1, t2 = np.asarray(r1.time), np.asarray(r2.time)
    shared = np.isin(np.round(t2, 9), np.round(t1, 9))
    assert shared.sum() == t1.size
    np.testing.assert_allclose(np.asarray(r2.theta)[shared], np.asarray(r1.theta), rtol=0, atol=1e-12)
    assert s1.accepted[0] < 200  # steps by accuracy alone: far fewer than the 2 401 outputs


def test_lithium_is_conserved_at_every_interpolated_output():
    mesh = lm.Sphere(2e-6).mesh()
    mat = lm.Material("steep", STEEP)
    (rec,), _ = run_batch([mesh], mat, lm.parse_protocol(PROTOCOL), alpha=1.0, theta0=0.97,
                          t_eval=np.linspace(0, 420, 97))
    total = mesh.mean(np.asarray(rec.theta)) + np.asarray(rec.q)
    assert np.abs(total - 0.97).max() < 1e-13
    # and the mean follows the imposed current exactly: 1C empties θ by 1 per hour
    t = np.asarray(rec.time)
    expect = 0.97 - np.clip(t, 0, 240) / 3600 - 2 * np.clip(t - 360, 0, 60) / 3600
    np.testing.assert_allclose(mesh.mean(np.asarray(rec.theta)), expect, rtol=0, atol=1e-12)


def test_a_surface_limit_is_located_as_the_python_solver_locates_it():
    kw = dict(diffusivity=STEEP, theta0=0.97, surface_limits=(0.005, 1.0), stop_at_limit=True)
    a = lm.simulate(lm.Sphere(8e-6), "Charge at C/3 for 2 hours", times=[0, 500], **kw)
    b = lm.simulate(lm.Sphere(8e-6), "Charge at C/3 for 2 hours", times=[0, 500],
                    options=lm.SolverOptions(compiled=False), **kw)
    assert abs(float(a.theta_surface[-1]) - 0.005) < 1e-8
    assert abs(float(a.time[-1]) / float(b.time[-1]) - 1) < 1e-3
    assert a.attrs["termination"].startswith("surface theta reached 0.005 at t=")
    with pytest.raises(lm.LithmapError, match="empties the particle surface"):
        lm.simulate(lm.Sphere(8e-6), "Charge at C/3 for 2 hours", diffusivity=STEEP, theta0=0.97,
                    surface_limits=(0.005, 1.0))


def test_threads_give_the_same_batch_as_one_thread():
    meshes = [lm.Sphere(R).mesh(surface_spacing=R / 60, max_spacing=R / 10, growth=1.25)
              for R in np.linspace(0.5e-6, 2e-6, 16)]
    mat = lm.Material("steep", STEEP)
    kw = dict(alpha=np.linspace(1, 5, 16), theta0=0.97, t_eval=np.linspace(0, 900, 31),
              surface_limits=SurfaceLimits(0.005, 1.0, on_limit="stop"))
    steps = lm.parse_protocol("Charge at 2C for 15 minutes")
    one, _ = run_batch(meshes, mat, steps, options=lm.SolverOptions(threads=1), **kw)
    two, _ = run_batch(meshes, mat, steps, options=lm.SolverOptions(threads=2), **kw)
    for x, y in zip(one, two):
        assert np.array_equal(x.time, y.time) and x.termination == y.termination
        np.testing.assert_array_equal(np.asarray(x.theta), np.asarray(y.theta))


@pytest.mark.parametrize("protocol, compiled", [
    ("Charge at 1C for 10 minutes then Rest for 1 minute", True),
    ("Charge at 1C until 4.2 V", False),  # a voltage cut-off: the Python solver
    ("Hold at 4.2 V for 10 minutes", False),  # a hold: Butler-Volmer at the surface
])
def test_which_batches_the_compiled_loop_takes(protocol, compiled):
    mat = lm.nmc811()
    model = ParticleModel([lm.Sphere(5e-6).mesh()], mat, 1.0)
    ex = Experiment(lm.parse_protocol(protocol), mat, 1, SurfaceLimits())
    assert _radial.eligible(model, ex) is compiled
    disc = ParticleModel([lm.Disc(1e-6).mesh(surface_spacing=0.1e-6, max_spacing=0.3e-6)], mat, 1.0)
    assert not _radial.eligible(disc, Experiment(lm.parse_protocol("Charge at 1C for 1 minute"), mat, 1,
                                                 SurfaceLimits()))


@pytest.mark.parametrize("fields", [True, False])
def test_both_paths_hand_back_records_of_arrays_of_the_same_shapes(fields):
    mesh = lm.Sphere(1e-6).mesh()
    kw = dict(alpha=1.0, theta0=0.9, t_eval=np.linspace(0, 300, 11), record_fields=fields)
    steps = lm.parse_protocol("Charge at 1C for 5 minutes")
    (a,), _ = run_batch([mesh], lm.get_material("nmc811"), steps, options=lm.SolverOptions(compiled=True), **kw)
    (b,), _ = run_batch([mesh], lm.get_material("nmc811"), steps, options=lm.SolverOptions(compiled=False), **kw)
    for name in ("time", "theta", "voltage", "c_rate", "q", "step"):
        x, y = getattr(a, name), getattr(b, name)
        assert isinstance(x, np.ndarray) and isinstance(y, np.ndarray), name
        assert x.shape == y.shape and x.dtype == y.dtype, (name, x.shape, y.shape, x.dtype, y.dtype)
    assert a.theta.shape == ((11, mesh.n) if fields else (0, 0))
    np.testing.assert_allclose(a.time, b.time, rtol=0, atol=1e-9)
