"""GITT on the 40 real pulses (tests/data/gitt-halfcell) and on GITT simulated by the engine."""

import csv
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.echem import analyse_gitt
from lithmap.io.cycler import read_cycler
from lithmap.physics.materials import ConstantDiffusivity, FunctionOfTheta, Material

DATA = Path(__file__).parent / "data" / "gitt-halfcell"
FILES = sorted(DATA.glob("pulse_*.csv"), key=lambda p: int(p.stem.split("_")[1]))
POS = "Positive electrode potential [V]"


def _record(sim=None, **arrays):
    """A GITT record (dim ``record``) from arrays, or from a simulation (its C-rate as the
    current: the diffusivities depend only on the voltages and the pulse timing)."""
    if sim is not None:
        c_rate = sim["c_rate"] if "c_rate" in sim else sim["current"]
        arrays = {"time": sim.time.values, "voltage": sim.voltage.values, "current": c_rate.values}
    return xr.Dataset({k: ("record", np.asarray(v)) for k, v in arrays.items()})


@pytest.fixture(scope="module")
def real():
    return analyse_gitt(read_cycler(FILES, columns={"voltage": POS}), radius=5.22e-6)


def test_forty_real_pulses_give_d_of_order_1e16_to_1e15(real):
    assert real.sizes["pulse"] == 40
    d = real.diffusivity_m2_s.values
    sound = np.array(["truncated" not in f for f in real.flags.values])
    assert np.all((d[sound] > 5e-17) & (d[sound] < 5e-15))
    assert 1e-16 <= np.median(d) <= 1e-15
    r2 = real.sqrt_r2.values
    assert np.all(r2[:39] >= 0.99) and r2[39] < 0.99
    assert "truncated" in real.flags.values[39] and "poor_sqrt_fit" in real.flags.values[39]
    assert all("truncated" not in f for f in real.flags.values[:39])
    assert real.duration.values[39] == pytest.approx(796, abs=2)  # hit the voltage cut-off early
    assert np.all(real.current.values < 0)  # a discharge titration: lithiation of the cathode


def test_one_pulse_against_a_direct_computation_from_the_raw_columns(real):
    """Pulse 5, recomputed here from its own file and the previous one, independently."""
    def load(n):
        with (DATA / f"pulse_{n}.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        return (np.array([float(r[c]) for r in rows]) for c in ("Time [s]", POS, "Current [A]"))

    t, e, i = load(5)
    full = np.abs(i) > 1e-3  # A: the 1.15 mA pulse
    t_on = t[full][0]
    resting = (np.abs(i) < 1e-6) & (t <= t_on - 0.05)
    e_before = e[resting][-1] if np.any(resting) else None
    if e_before is None:  # this file starts at the switch: the rest ended in the previous file
        tp, ep, ip = load(4)
        e_before = ep[np.abs(ip) < 1e-6][-1]
    tn, en, inext = load(6)
    t_next_on = tn[np.abs(inext) > 1e-3][0]
    e_after = e[(np.abs(i) < 1e-6) & (t <= t_next_on - 0.05)][-1]  # the rest ends in this file
    k = 4
    assert real.E_before.values[k] == pytest.approx(e_before, abs=1e-7)
    assert real.E_after.values[k] == pytest.approx(e_after, abs=1e-7)
    on = np.flatnonzero(np.abs(i - np.median(i[full])) <= 0.02 * 1.15e-3)
    assert real.delta_Et.values[k] == pytest.approx(e[on[-1]] - e[on[0]], abs=1e-9)
    ts = t[on] - t_on
    w = (ts >= 2) & (ts <= 60)
    slope, icpt = np.polyfit(np.sqrt(ts[w]), e[on][w], 1)
    resid = e[on][w] - (slope * np.sqrt(ts[w]) + icpt)
    r2 = 1 - np.sum(resid**2) / np.sum((e[on][w] - e[on][w].mean()) ** 2)
    assert real.sqrt_slope.values[k] == pytest.approx(slope, rel=1e-9)
    assert real.sqrt_r2.values[k] == pytest.approx(r2, abs=1e-12)
    tau = real.duration.values[k]
    d = 4 * 5.22e-6**2 / (9 * np.pi * tau) * ((e_after - e_before) / (e[on[-1]] - e[on[0]])) ** 2
    assert real.diffusivity_m2_s.values[k] == pytest.approx(d, rel=1e-6)


def test_synthetic_gitt_from_the_engine_recovers_d_within_the_known_bias():
    D, R = 3e-16, 5e-6
    mat = Material(name="linear-ocv", diffusivity=ConstantDiffusivity(D),
                   ocv=FunctionOfTheta(lambda th: 4.0 - (th - 0.5), lambda th: -np.ones_like(th)))
    # rests of 8 h: the slowest mode relaxes as exp(-π² D t / r²) → < 0.5 % left (3 h would leave 7 %)
    protocol = ["Rest for 10 minutes"] + ["Discharge at C/10 for 10 minutes", "Rest for 8 hours"] * 2
    starts = [600.0, 600.0 + 600 + 28800]
    times = np.unique(np.concatenate([np.arange(0, 59000, 600.0)] + [s + np.arange(0, 601, 1.0) for s in starts]))
    ds = lm.simulate(lm.Sphere(R), protocol, material=mat, theta0=0.4, times=times)
    g = analyse_gitt(_record(ds), radius=R)
    assert g.sizes["pulse"] == 2 and all(f == "" for f in g.flags.values)
    assert np.all(g.sqrt_r2.values > 0.999)
    ratio_radius = g.diffusivity_m2_s.values / D
    ratio_sqrt = g.diffusivity_sqrt_m2_s.values / D
    bias = np.sqrt(g.tau_D_over_r2.values)  # τD/r² ≈ 0.007: radius form low by ~1-1.4 √(τD/r²)
    assert np.all((ratio_radius < 1 - 0.5 * bias) & (ratio_radius > 1 - 1.6 * bias))
    assert np.all(np.abs(ratio_sqrt - 1) < 0.1)
    # the titration passes 2 x 10 min at C/10 = 1/30 of the capacity, all in the 'soc' fraction
    assert g.soc.values[-1] == pytest.approx(0.75, abs=1e-3)


def test_gitt_bad_input_is_one_line():
    t = np.arange(10.0)
    with pytest.raises(lm.LithmapError, match="no pulses"):
        analyse_gitt(_record(time=t, voltage=np.ones(10), current=np.zeros(10)), radius=5e-6)
    with pytest.raises(lm.LithmapError, match="backwards"):
        analyse_gitt(_record(time=t[::-1], voltage=np.ones(10), current=np.ones(10)), radius=5e-6)
    with pytest.raises(lm.LithmapError, match="radius"):
        analyse_gitt(_record(time=t, voltage=np.ones(10), current=np.ones(10)), radius=0.0)
    with pytest.raises(lm.LithmapError, match="lacks column"):
        read_cycler(FILES[:1], columns={"voltage": "Cathode [V]"})


def test_gitt_cli_writes_the_table_that_simulate_reads(tmp_path):
    runner = CliRunner()
    out = tmp_path / "gitt.csv"
    res = runner.invoke(app, ["gitt", *map(str, FILES), "--radius", "5.22um", "--column", POS,
                              "--capacity", "40mAh", "--theta-start", "0.2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.exists() and out.with_suffix(".png").exists()
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 40 and {"theta", "diffusivity_m2_s", "flags"} <= set(rows[0])
    assert rows[39]["flags"] and "truncated" in rows[39]["flags"]
    sim = tmp_path / "run.nc"
    res = runner.invoke(app, ["simulate", "--shape", "sphere:5.22um", "--diffusivity", str(out), "--theta0", "0.5",
                              "--protocol", "Discharge at C/10 for 30 minutes", "--out", str(sim)])
    assert res.exit_code == 0, res.output
    bad = tmp_path / "none.csv"
    res = runner.invoke(app, ["gitt", str(FILES[0]), "--radius", "-1um", "--column", POS, "--out", str(bad)])
    assert res.exit_code != 0 and not bad.exists()


def test_gitt_cli_reads_a_cycler_file(tmp_path):
    """A cycler's own file is accepted directly (here a BioLogic GCPL .mpr)."""
    mpr = Path(__file__).parent / "data" / "cycler" / "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
    out = tmp_path / "g.csv"
    res = CliRunner().invoke(app, ["gitt", str(mpr), "--radius", "5um", "--out", str(out)])
    # continuous cycling is not a titration: every 'pulse' is a whole half cycle, so each is flagged
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) >= 10 and all(r["flags"] for r in rows)
    assert "no D" in res.output


def test_pulses_of_different_currents_are_found_from_step_changes():
    """Two pulse currents (1 mA and 0.3 mA) on a log with a +5 µA offset and noise: the level
    rule (half the peak) sees only the 1 mA pulses; the cycler's step index finds all four, and
    each pulse's ΔEs/ΔEt comes out as built."""
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 9 * 600.0, 1.0)
    seg = (t // 600).astype(int)  # rest, pulse, rest, pulse, ...
    amps = np.array([0, 1e-3, 0, 0.3e-3, 0, 1e-3, 0, 0.3e-3, 0])
    cur = amps[seg] + 5e-6 + rng.normal(0, 1e-6, t.size)
    # each pulse: 10 mV IR step, then sqrt(t) rise; each rest relaxes to +2 mV per pulse-mA
    e = np.full(t.size, 3.7)
    level = 3.7
    for k in range(1, 9, 2):
        on = seg == k
        s = t[on] - t[on][0]
        i_ma = amps[k] * 1e3
        e[on] = level + 0.01 * i_ma + 1e-3 * i_ma * np.sqrt(s)
        level += 2e-3 * i_ma
        e[seg == k + 1] = level
    by_level = analyse_gitt(_record(time=t, voltage=e, current=cur), radius=5e-6)
    by_step = analyse_gitt(_record(time=t, voltage=e, current=cur, step=seg), radius=5e-6)
    assert by_level.sizes["pulse"] == 2
    assert by_step.sizes["pulse"] == 4
    np.testing.assert_allclose(by_step.current.values, amps[1::2] + 5e-6, atol=3e-6)
    # ΔEs = 2 mV/mA × I; ΔEt = 1 mV/mA × I × √599 (IR excluded): ratio independent of the current
    ratio = by_step.delta_Es.values / by_step.delta_Et.values
    np.testing.assert_allclose(ratio, 2 / np.sqrt(599), rtol=1e-6)
    assert np.all(by_step.sqrt_r2.values > 0.999)
    with pytest.raises(lm.LithmapError, match="step has 3 values"):
        analyse_gitt(_record(time=t, voltage=e, current=cur).assign(step=("other", [1, 2, 3])), radius=5e-6)
