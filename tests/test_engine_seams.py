"""The engine's seams: the model (fluxes, observables), the experiment (an Enum of step kinds,
a state machine, events, the surface-limit policy) and the solver's one batch state."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import lithmap as lm
from lithmap.physics.engine import run_batch
from lithmap.physics.experiment import EVENTS, EventKind, Experiment, SurfaceLimits, cut_off
from lithmap.physics.model import ParticleModel
from lithmap.physics.protocol import StepKind
from lithmap.physics.simulate import resolve_material
from lithmap.physics.solver import BatchState, RunRecord, SolverOptions

NMC = resolve_material("nmc811")


def state(nrun, step=0):
    return SimpleNamespace(step=np.full(nrun, step), t=np.zeros(nrun), t_start=np.zeros(nrun),
                           active=np.ones(nrun, bool), V=np.full(nrun, 3.7))


def records(n):
    return [RunRecord([], [], [], [], [], []) for _ in range(n)]


def test_step_kinds_are_an_enum_equal_to_their_text():
    steps = lm.parse_protocol("Charge at 1C for 1 min then Hold at 4.1 V until C/20 then Rest for 1 min")
    assert [s.kind for s in steps] == [StepKind.CURRENT, StepKind.VOLTAGE, StepKind.REST]
    assert all(isinstance(s.kind, StepKind) for s in steps)
    assert steps[0].kind == "current" and str(steps[2].kind) == "rest"
    assert [k.code for k in StepKind] == [0, 1, 2]
    assert lm.Step("voltage", 4.2, 60.0).kind is StepKind.VOLTAGE
    with pytest.raises(lm.LithmapError, match="step kind 'jump'"):
        lm.Step("jump")


def test_experiment_tables_hold_the_kind_codes():
    steps = lm.parse_protocol("Charge at 70 mA/g for 1 min then Hold at 4.1 V until C/20 then Rest for 1 min")
    ex = Experiment(steps, NMC, 2, SurfaceLimits())
    assert ex.kind.tolist() == [[StepKind.CURRENT.code, StepKind.VOLTAGE.code, StepKind.REST.code]] * 2
    np.testing.assert_allclose(ex.value[0], [70 / 210, 4.1, 0.0])  # mA/g resolved with 210 mA h / g
    assert ex.has_holds and np.isnan(ex.duration[0, 1]) and ex.until_c_rate[0, 1] == pytest.approx(1 / 20)
    kind, value = ex.controls(np.array([1, 2]))
    assert kind.tolist() == [StepKind.VOLTAGE.code, StepKind.REST.code] and value.tolist() == [4.1, 0.0]


def test_state_machine_advances_and_finishes():
    ex = Experiment(lm.parse_protocol("Charge at 1C for 1 min then Rest for 1 min"), NMC, 2, SurfaceLimits(),
                    max_until=3600.0)
    s, recs = state(2), records(2)
    s.t[:] = [60.0, 60.0]
    ex.advance(np.array([True, False]), s, recs)
    assert s.step.tolist() == [1, 0] and s.t_start.tolist() == [60.0, 0.0] and s.active.all()
    s.t[0] = 120.0
    ex.advance(np.array([True, False]), s, recs)
    assert s.step.tolist() == [1, 0] and s.active.tolist() == [False, True]
    assert recs[0].termination == "protocol complete"
    assert ex.step_end(s).tolist() == [120.0, 60.0]


def test_surface_limit_policy_stops_or_raises():
    steps = lm.parse_protocol("Charge at 1C for 1 hour then Rest for 1 min")
    s, recs = state(1), records(1)
    s.t[0] = 42.0
    row = np.array([EventKind.SURFACE_LOW])
    stop = Experiment(steps, NMC, 1, SurfaceLimits(0.01, 1.0, on_limit="stop"))
    stop.fire(np.array([True]), row, s, recs)
    assert not s.active[0] and recs[0].termination.startswith("surface theta reached 0.01 at t=42 s")
    with pytest.raises(lm.LithmapError, match="empties the particle surface.*--stop-at-limit"):
        Experiment(steps, NMC, 1, SurfaceLimits()).fire(np.array([True]), row, state(1), records(1))
    # a cut-off event ends the step instead
    s = state(1)
    stop.fire(np.array([True]), np.array([EventKind.CUT_OFF]), s, recs)
    assert s.step[0] == 1 and s.active[0]


def test_surface_limits_are_checked_and_built():
    assert SurfaceLimits.of(None) == SurfaceLimits(0.0, 1.0, "error")
    assert SurfaceLimits.of((0.005, 1.0), stop=True) == SurfaceLimits(0.005, 1.0, "stop")
    for bad in [(0.5, 0.2), (-0.1, 1.0), "low"]:
        with pytest.raises(lm.LithmapError, match="surface_limits="):
            SurfaceLimits.of(bad)
    assert not hasattr(SolverOptions(), "surface_limits") and not hasattr(SolverOptions(), "on_limit")
    assert not hasattr(SolverOptions(), "max_until")  # a protocol policy: the experiment's


def test_event_functions():
    assert list(EVENTS) == list(EventKind)
    kind = np.array([StepKind.CURRENT.code, StepKind.CURRENT.code, StepKind.VOLTAGE.code, StepKind.REST.code])
    value = np.array([1.0, -1.0, 4.2, 0.0])
    until_v = np.array([4.2, 3.0, np.nan, np.nan])
    until_c_rate = np.array([np.nan, np.nan, 0.05, np.nan])
    voltage, c_rate = np.array([4.0, 3.1, 4.2, 3.7]), np.array([1.0, -1.0, 0.2, 0.0])
    g = cut_off(None, None, None, kind, value, until_v, until_c_rate, voltage, c_rate)
    np.testing.assert_allclose(g, [0.2, 0.1, 0.15, np.inf])  # charge up to 4.2 V, discharge down to 3.0 V
    lim = SurfaceLimits(0.1, 0.9)
    assert EVENTS[EventKind.SURFACE_LOW](np.array([0.3]), np.array([0.95]), lim)[0] == pytest.approx(0.2)
    assert EVENTS[EventKind.SURFACE_HIGH](np.array([0.3]), np.array([0.95]), lim)[0] == pytest.approx(-0.05)


def test_model_boundary_flux_and_observables():
    mesh = lm.Sphere(1e-6).mesh(n=30)
    model = ParticleModel([mesh], NMC, 1.0)
    y = np.full(mesh.n, 0.9)
    cc = model.controls(np.array([StepKind.CURRENT.code]), np.array([0.5]))
    assert not cc.any_hold
    V, c_rate = model.observables(y, cc)
    assert c_rate[0] == pytest.approx(0.5, rel=1e-12) and np.isfinite(V[0])
    g, parts = model.residual(y, cc)
    assert g.sum() == pytest.approx(-model.flux_per_volume(parts[2])[0] * mesh.volume.sum(), rel=1e-12)
    # a hold at the open-circuit voltage draws no current (Butler-Volmer at zero overpotential)
    ocv = float(NMC.ocv(0.9))
    hold = model.controls(np.array([StepKind.VOLTAGE.code]), np.array([ocv]))
    assert hold.any_hold and hold.hold.all()
    V, c_rate = model.observables(y, hold)
    assert abs(c_rate[0]) < 1e-9 and V[0] == ocv
    j, dj = model.surface_flux(y, hold)
    assert dj[0] > 0  # more lithium lowers the OCV: the held voltage then drives more delithiation


def test_run_batch_keeps_one_batch_state_and_records_c_rate():
    meshes = [lm.Sphere(1e-6).mesh(), lm.Sphere(2e-6).mesh()]
    recs, state = run_batch(meshes, NMC, lm.parse_protocol("Charge at 1C until 4.0 V then Rest for 1 min"),
                            alpha=[1.0, 2.0], theta0=0.97, surface_limits=(0.0, 1.0), t_eval=[0.0, 60.0])
    assert isinstance(state, BatchState)
    assert state.t.shape == (2,) and state.y.shape == (meshes[0].n + meshes[1].n,)
    assert not state.active.any()
    assert state.t.tolist() == [rec.time[-1] for rec in recs]
    for rec in recs:
        assert rec.termination == "protocol complete"
        switch = np.flatnonzero(np.asarray(rec.step) == 0)[-1]
        assert rec.voltage[switch] == pytest.approx(4.0, abs=1e-6)
        np.testing.assert_allclose(np.asarray(rec.c_rate)[1:switch + 1], 1.0, rtol=1e-9)
        assert rec.time[-1] == pytest.approx(rec.time[switch] + 60.0)


def test_theta0_outside_the_surface_limits_is_refused():
    with pytest.raises(lm.LithmapError, match="outside the surface limits"):
        lm.simulate("sphere:1um", "Charge at 1C for 1 min", diffusivity=1e-15, theta0=0.97, surface_limits=(0.0, 0.9))


def test_the_experiment_says_when_a_step_ends_or_overruns():
    steps = lm.parse_protocol("Charge at 1C for 1 min then Charge at 1C until 4.2 V")
    ex = Experiment(steps, NMC, 2, SurfaceLimits(), max_until=600.0)
    s = state(2)
    s.step[:] = [0, 1]
    s.t[:] = [60.0, 60.0]
    moved = np.array([True, True])
    assert ex.ended(s, moved).tolist() == [True, False]  # the fixed step has run its minute; 'until' never ends so
    assert ex.ended(s, np.array([False, True])).tolist() == [False, False]
    ex.check_overrun(s, moved)  # 60 s of 600: fine
    s.t[1] = 600.0
    with pytest.raises(lm.LithmapError, match=r"'Charge at 1C until 4.2 V': its cut-off is never reached within 0.16"):
        ex.check_overrun(s, moved)
    with pytest.raises(lm.LithmapError, match="max_until=0"):
        Experiment(steps, NMC, 1, SurfaceLimits(), max_until=0)


def test_max_until_is_the_experiments_policy_through_run_batch():
    meshes = [lm.Sphere(1e-6).mesh(n=20)]
    with pytest.raises(lm.LithmapError, match="never reached within 0.01 h"):
        run_batch(meshes, NMC, lm.parse_protocol("Charge at C/10 until 4.3 V"), alpha=1.0, theta0=0.97,
                  max_until=36.0)


def test_event_tolerances_are_keyed_by_event_kind():
    tol = SolverOptions(event_tol_theta=1e-8, event_tol_voltage=1e-6).event_tolerances()
    assert set(tol) == set(EventKind)
    assert tol[EventKind.SURFACE_LOW] == tol[EventKind.SURFACE_HIGH] == 1e-8 and tol[EventKind.CUT_OFF] == 1e-6


def test_padding_after_the_last_step_has_a_name():
    from lithmap.physics.experiment import NO_STEP

    ex = Experiment([lm.parse_protocol("Rest for 1 min"), lm.parse_protocol("Rest for 1 min then Rest for 2 min")],
                    NMC, 2, SurfaceLimits())
    assert ex.kind.tolist() == [[StepKind.REST.code, NO_STEP], [StepKind.REST.code, StepKind.REST.code]]
    assert NO_STEP not in [k.code for k in StepKind]
