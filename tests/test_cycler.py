"""Real cycler files (tests/data/cycler) → the normalised table and per-cycle capacities,
checked against numbers derived here from the files' own raw columns."""

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.echem import analyse_cycles
from lithmap.io.cycler import read_cycler

DATA = Path(__file__).parent / "data" / "cycler"
FILES = sorted(p for p in DATA.iterdir() if not p.name.startswith("LICENSE"))
GCPL = DATA / "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_cycler_file_parses_into_the_normalised_table(path):
    ds = read_cycler(path)
    for v in ("time", "voltage", "current", "step", "cycle", "capacity"):
        assert v in ds and ds[v].sizes["record"] == ds.sizes["record"] > 0
    assert ds.time.attrs["units"] == "s" and ds.current.attrs["units"] == "A"
    assert np.all(np.diff(ds.time.values) >= 0) and ds.time.values[0] == 0
    assert np.all(np.isfinite(ds.voltage.values)) and np.all(ds.cycle.values >= 1)


def test_gcpl_mpr_cycles_match_biologic_half_cycles():
    from galvani import BioLogic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = BioLogic.MPRfile(str(GCPL)).data
    half, dq = raw["half cycle"], raw["dq/mA.h"]
    sums = [dq[half == h].sum() for h in np.unique(half)]  # alternating sign, leading discharge
    res = analyse_cycles(read_cycler(GCPL))
    assert res.sizes["cycle"] == 1 + (len(sums) - 1) // 2  # a leading discharge + 6 charge/discharge pairs
    assert res.discharge_capacity.values[0] == pytest.approx(-sums[0], rel=1e-12)
    np.testing.assert_allclose(res.charge_capacity.values[1:], sums[1::2], rtol=1e-9)
    np.testing.assert_allclose(res.discharge_capacity.values[1:], -np.array(sums[2::2]), rtol=1e-9)
    np.testing.assert_allclose(res.coulombic_efficiency.values[1:], -np.array(sums[2::2]) / np.array(sums[1::2]),
                               rtol=1e-9)
    assert np.all(res.charge_cv.values == 0)  # galvanostatic only


def test_neware_capacities_match_its_own_counters_and_find_the_cv_part():
    import NewareNDA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = NewareNDA.read(str(DATA / "test.ndax"))
    rec = read_cycler(DATA / "test.ndax")
    assert np.all(rec.current.values[(df["Status"] == "CCCV_Chg").values] > 0)  # + = charge
    res = analyse_cycles(rec)
    chg = df.loc[df["Status"] == "CCCV_Chg", "Charge_Capacity(mAh)"].max()
    dis = df.loc[df["Status"] == "CCCV_DChg", "Discharge_Capacity(mAh)"].max()
    assert res.charge_capacity.values[0] == pytest.approx(chg, rel=0.01)
    assert res.discharge_capacity.values[0] == pytest.approx(dis, rel=0.01)
    # the CV phase of the CCCV charge: the voltage is held within 2 mV of its maximum
    ch = df[df["Status"] == "CCCV_Chg"]
    held = ch[(ch["Voltage"] >= ch["Voltage"].max() - 2e-3) & (ch["Current(mA)"] < 0.95 * ch["Current(mA)"].max())]
    cv_counter = held["Charge_Capacity(mAh)"].max() - held["Charge_Capacity(mAh)"].min()
    assert res.charge_cv.values[0] == pytest.approx(cv_counter, rel=0.05)
    assert 0 < res.charge_cv.values[0] < res.charge_capacity.values[0]


def test_biologic_text_export_matches_its_q_discharge_column():
    path = DATA / "Sample_data_biologic_01_MB_CA1.txt"
    with open(path, encoding="latin-1") as fh:
        lines = fh.readlines()
    n = int(lines[1].split(":")[1])
    header = lines[n - 1].rstrip("\n").split("\t")
    col = header.index("Q discharge/mA.h")
    qdis = max(float(ln.split("\t")[col].replace(",", ".")) for ln in lines[n:] if ln.strip())
    res = analyse_cycles(read_cycler(path))
    assert res.discharge_capacity.values.sum() == pytest.approx(qdis, rel=0.01)


def test_bad_cycler_input(tmp_path):
    odd = tmp_path / "log.xyz"
    odd.write_text("1,2,3\n")
    with pytest.raises(lm.LithmapError, match="unknown format"):
        read_cycler(odd)
    back = tmp_path / "back.csv"
    back.write_text("Time [s],Voltage [V],Current [A]\n0,3.5,0.001\n10,3.6,0.001\n5,3.7,0.001\n")
    with pytest.raises(lm.LithmapError, match="time goes backwards"):
        read_cycler(back)
    with pytest.raises(lm.LithmapError, match="lacks column"):
        read_cycler(back, columns={"time": "t", "voltage": "V", "current": "I"})
    with pytest.raises(lm.LithmapError, match="mass"):
        analyse_cycles(read_cycler(GCPL), mass=0.0)
    with pytest.raises(lm.LithmapError, match="mass"):
        read_cycler(GCPL, mass=-1.0)
    rec = read_cycler(GCPL, mass="5mg")
    np.testing.assert_allclose(rec.specific_capacity.values, rec.capacity.values / 5e-3)
    assert rec.attrs["mass"] == pytest.approx(5e-6) and rec.specific_capacity.attrs["units"] == "mA h / g"
    flipped = tmp_path / "flipped.csv"
    t = np.arange(0, 3600, 10.0)
    v = 3.5 + 0.5 * t / 3600
    flipped.write_text("Time [s],Voltage [V],Current [A]\n" + "".join(f"{a},{b},-0.001\n" for a, b in zip(t, v)))
    with pytest.raises(lm.LithmapError, match="current sign is opposite"):
        read_cycler(flipped)


def test_cycles_cli(tmp_path):
    runner = CliRunner()
    out = tmp_path / "cycles.csv"
    res = runner.invoke(app, ["cycles", str(GCPL), "--mass", "5mg", "--capacity", "170mAh/g", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 7
    assert {"cycle", "charge_capacity_mAh", "discharge_capacity_mAh", "coulombic_efficiency",
            "charge_capacity_mAh_g"} <= set(rows[0])
    assert float(rows[1]["charge_capacity_mAh_g"]) == pytest.approx(float(rows[1]["charge_capacity_mAh"]) / 5e-3)
    bad = tmp_path / "bad.csv"
    res = runner.invoke(app, ["cycles", str(GCPL), "--mass", "-5mg", "--out", str(bad)])
    assert res.exit_code != 0 and not bad.exists() and "mass" in res.output


def test_segments_dqdv_and_c_rate():
    from lithmap.echem import dqdv, segment

    rec = read_cycler(DATA / "test.ndax")
    seg = segment(rec).values
    assert {"rest", "cc_charge", "cv_charge", "cc_discharge"} <= set(seg)
    assert np.all(rec.current.values[seg == "cc_charge"] > 0) and np.all(rec.current.values[seg == "cc_discharge"] < 0)
    gcpl = read_cycler(GCPL)
    curve = dqdv(gcpl, 3, direction="discharge")
    res = analyse_cycles(gcpl, mass=5e-6, specific_capacity="170mAh/g")
    # the integral of dQ/dV over voltage is the cycle's discharge capacity
    assert float(curve.sum()) * 5e-3 == pytest.approx(float(res.discharge_capacity.sel(cycle=3)), rel=1e-9)
    # C-rate: the GCPL current is C/24 of this cell's own capacity; here 1C = 5 mg x 170 mAh/g = 0.85 mA
    i_cc = np.median(np.abs(gcpl.current.values[(gcpl.cycle.values == 3) & (gcpl.current.values > 0)]))
    assert float(res.charge_c_rate.sel(cycle=3)) == pytest.approx(i_cc / 0.85e-3, rel=1e-6)
    with pytest.raises(lm.LithmapError, match="direction"):
        dqdv(gcpl, 3, direction="sideways")


def test_vectorised_neware_reader_equals_newarenda_on_the_real_file():
    from lithmap.io.cycler import _read_neware_library

    fast, lib = read_cycler(DATA / "test.ndax"), _read_neware_library(DATA / "test.ndax")
    for v in ("time", "step", "cycle"):
        np.testing.assert_array_equal(fast[v].values, lib[v].values)
    np.testing.assert_allclose(fast.voltage.values, lib.voltage.values, atol=1e-6)  # NewareNDA rounds to float32
    np.testing.assert_allclose(fast.current.values, lib.current.values, rtol=1e-6, atol=1e-12)
    assert fast.time.attrs["start_time"] == lib.time.attrs["start_time"] == "2024-02-01T20:24:23"


def test_a_written_ndax_reads_back_exactly_with_steps_and_cycles(tmp_path):
    """Records written into the real file's framing (tests/ndax_writer.py), 0.1 s sampling."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from ndax_writer import write_ndax

    n = 3000
    t = np.arange(n) * 0.1 + 5.0
    step = 1 + np.arange(n) // 500
    cur = np.select([step % 3 == 1, step % 3 == 0], [0.25, -0.25], 0.0)
    v = 3.5 + 1e-4 * np.cumsum(np.sign(cur))
    path = write_ndax(tmp_path / "w.ndax", t, v, cur, step)
    ds = read_cycler(path)
    np.testing.assert_allclose(ds.time.values, t - t[0], atol=1e-9)  # the step timer keeps sub-second spacing
    np.testing.assert_allclose(ds.voltage.values, v, atol=5e-5)
    np.testing.assert_allclose(ds.current.values, cur / 1000, atol=1e-9)
    np.testing.assert_array_equal(ds.step.values, step)
    assert ds.cycle.values.max() == 2  # charge, rest, discharge | charge, rest, discharge
