"""The protocol from the movie (lithmap.inverse.protocol.movie_protocol): a constant rate, a
synthetic constant-current log (steps and C-rate exact), the real Neware log test.ndax on a
synthetic movie time axis (charge conserved, a handful of steps, the engine runs them), a log
synchronised onto a contrast result, and the errors."""

import numpy as np
import pytest
import xarray as xr

import lithmap as lm
from lithmap.inverse.protocol import movie_protocol, piecewise_steps

NMC_PRACTICAL = 210 * 3.6e3  # C/kg: 210 mA h / g


def movie_axis(times, reference=0):
    return xr.Dataset(coords={"time": ("time", np.asarray(times, float), {"units": "s"})},
                      attrs={"reference_frame": reference})


def cc_log(current, t_end=4000.0, dt=10.0, start=-200.0):
    t = np.arange(start, t_end + dt, dt)
    return xr.Dataset({"time": ("record", t), "voltage": ("record", 3.7 + 1e-5 * t),
                       "current": ("record", np.full(t.size, current)),
                       "capacity": ("record", current * (t - t[0]) / 3.6)})


def test_constant_rate_is_one_step_from_the_reference_frame():
    movie = movie_axis(np.arange(31) * 120.0 + 60.0, reference=3)
    steps, times = movie_protocol(movie, rate="-C/3")
    assert len(steps) == 1 and steps[0].kind == lm.StepKind.CURRENT
    assert steps[0].value == pytest.approx(-1 / 3) and steps[0].duration == pytest.approx(3240.0)
    np.testing.assert_allclose(times, np.arange(28) * 120.0)
    rest, _ = movie_protocol(movie, rate=0)
    assert rest[0].kind == lm.StepKind.REST and rest[0].duration == pytest.approx(3240.0)


def test_constant_current_log_gives_the_exact_c_rate():
    mass = 2.1e-6
    one_c = mass * NMC_PRACTICAL / 3600.0
    movie = movie_axis(np.arange(0.0, 3601.0, 120.0), reference=1)
    steps, times = movie_protocol(movie, log=cc_log(0.5 * one_c), log_offset=35.0, mass="2.1mg", material="nmc811")
    assert len(steps) == 1
    assert steps[0].kind == lm.StepKind.CURRENT
    assert steps[0].value == pytest.approx(0.5, rel=1e-9)
    assert steps[0].duration == pytest.approx(3480.0)
    assert times[0] == 0 and times[-1] == pytest.approx(3480.0)
    # a discharge is negative; a Material object works as well as its name
    steps, _ = movie_protocol(movie, log=cc_log(-2 * one_c), mass=mass, material=lm.nmc811())
    assert steps[0].value == pytest.approx(-2.0, rel=1e-9)


def test_piecewise_steps_merge_within_tolerance_and_keep_the_charge():
    rng = np.random.default_rng(0)
    t = np.arange(0.0, 7201.0, 5.0)
    i = np.where(t < 1800, 0.0, np.where(t < 5400, 1e-4 * (1 + 0.003 * rng.standard_normal(t.size)), -5e-5))
    q = np.concatenate([[0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t))])
    steps = piecewise_steps(t, q, one_c=1e-4, tolerance=0.02)
    kinds = [str(s.kind) for s in steps]
    assert kinds[0] == "rest" and kinds[1:] == ["current"] * (len(steps) - 1)
    assert len(steps) <= 5  # rest, the switch interval, the noisy charge, the switch, the discharge
    total = sum(s.value * s.duration for s in steps if s.kind == lm.StepKind.CURRENT) * 1e-4
    assert total == pytest.approx(q[-1], rel=1e-12)
    assert sum(s.duration for s in steps) == pytest.approx(7200.0)
    tight = piecewise_steps(t, q, one_c=1e-4, tolerance=1e-4)
    assert len(tight) > 50  # the current's 0.3 % noise no longer fits one step


def test_real_neware_log_on_a_movie_axis():
    log = lm.read_cycler(lm.example_file("test.ndax"))  # rest 300 s, CC-CV charge to 21900 s, discharge
    movie = movie_axis(np.arange(0.0, 24001.0, 300.0), reference=1)
    offset = 200.0  # the log's time at the movie's first frame
    steps, times = movie_protocol(movie, log=log, log_offset=offset, mass="5mg", material="nmc811")
    assert 3 <= len(steps) <= 60  # 1464 records → a handful of steps (the CV decay in 2 % pieces)
    assert sum(s.duration for s in steps) == pytest.approx(times[-1])
    # the charge of the steps is the log's charge between the reference frame and the last frame
    one_c = 5e-6 * NMC_PRACTICAL / 3600.0
    q_steps = sum(s.value * s.duration for s in steps) * one_c
    lt, cap = log.time.values, log.capacity.values * 3.6
    a, b = 300.0 + offset, 24000.0 + offset
    keep = np.r_[np.diff(lt) > 0, True]
    assert q_steps == pytest.approx(np.interp(b, lt[keep], cap[keep]) - np.interp(a, lt[keep], cap[keep]), rel=1e-9)
    # CC charge, then the CV decay, then a discharge: the sign changes once, the C-rate is ~0.114C in CC
    signs = np.sign([s.value for s in steps if s.kind == lm.StepKind.CURRENT])
    assert signs[0] > 0 and signs[-1] < 0 and np.count_nonzero(np.diff(signs)) == 1
    assert steps[0].value == pytest.approx(1.2e-4 / one_c, rel=0.01)
    # the engine runs them on the movie's times
    sim = lm.simulate("sphere:1um", steps, material="nmc811", times=times)
    at = sim.sel(time=times, method="nearest")  # the engine also records each step's switch
    np.testing.assert_allclose(at.time.values, times, atol=1e-6)
    assert sim.attrs["termination"] == "protocol complete" and np.all(np.isfinite(at.theta_mean.values))
    frac = lm.nmc811().capacity_fraction
    expect = 0.97 - q_steps / one_c / 3600.0 * frac
    assert float(at.theta_mean[-1]) == pytest.approx(expect, abs=1e-3)


def test_a_log_synchronised_onto_the_result_is_used():
    movie = lm.analyse_movie("example", register=False)
    one_c = 2e-6 * NMC_PRACTICAL / 3600.0
    synced = lm.synchronise(movie, cc_log(one_c / 3), offset=0.0)
    steps, times = movie_protocol(synced, mass="2mg", material="nmc811")
    assert len(steps) == 1 and steps[0].value == pytest.approx(1 / 3, rel=1e-9)
    assert times[-1] == pytest.approx(3600.0)
    # a rate given explicitly wins over the stored log
    steps, _ = movie_protocol(synced, rate="C/10")
    assert steps[0].value == pytest.approx(0.1)
    # a stored log that misses the end of the movie
    short = lm.synchronise(movie, cc_log(one_c / 3, t_end=1000.0), offset=0.0)
    with pytest.raises(lm.LithmapError, match=r"covers only part of the movie .*no current at \d+ frames"):
        movie_protocol(short, mass="2mg", material="nmc811")


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give the movie's protocol: rate='C/3'"),
    ({"rate": "C/3", "log": "LOG"}, "rate \\(--rate\\) or log \\(--log\\), not both"),
    ({"log": "LOG", "material": "nmc811"}, "needs the active mass"),
    ({"log": "LOG", "mass": "2mg"}, "needs the material"),
    ({"log": "LOG", "mass": "-2mg", "material": "nmc811"}, "mass='-2mg' is invalid"),
    ({"rate": "C/3", "mass": "2mg"}, "with rate \\(--rate\\) leave it out"),
    ({"rate": "fast"}, "rate='fast' is invalid"),
    ({"rate": "C/3", "tolerance": 2.0}, "tolerance=2.0 is invalid"),
])
def test_bad_options_are_one_line(kwargs, message):
    movie = movie_axis(np.arange(0.0, 3601.0, 120.0))
    if kwargs.get("log") == "LOG":
        kwargs = {**kwargs, "log": cc_log(1e-4)}
    with pytest.raises(lm.LithmapError, match=message) as exc:
        movie_protocol(movie, **kwargs)
    assert "\n" not in str(exc.value)


def test_logs_that_miss_the_movie_name_the_ranges():
    movie = movie_axis(np.arange(0.0, 3601.0, 120.0), reference=2)
    log = cc_log(1e-4, t_end=2000.0, start=0.0)
    with pytest.raises(lm.LithmapError, match=r"log \(0-2000 s\) does not overlap the movie from its reference frame "
                                              r"\(3640-7000 s on the log's clock with log_offset 3400 s\)"):
        movie_protocol(movie, log=log, log_offset=3400, mass="2mg", material="nmc811")
    with pytest.raises(lm.LithmapError, match=r"covers only part of the movie .*\(240-3600 s .*no current for "
                                              r"2000-3600 s; check log_offset"):
        movie_protocol(movie, log=log, mass="2mg", material="nmc811")
    late = cc_log(1e-4, t_end=5000.0, start=1000.0)
    with pytest.raises(lm.LithmapError, match=r"no current for 240-1000 s"):
        movie_protocol(movie, log=late, mass="2mg", material="nmc811")


def test_a_movie_without_frames_after_the_reference_is_refused():
    with pytest.raises(lm.LithmapError, match="no frames after the reference frame 4"):
        movie_protocol(movie_axis([0.0, 10, 20, 30, 40], reference=4), rate="C/3")
    with pytest.raises(lm.LithmapError, match="no time coordinate"):
        movie_protocol(xr.Dataset(), rate="C/3")
