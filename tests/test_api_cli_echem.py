"""Command equals function: each electrochemistry command writes what its public function returns.

``lithmap gitt`` ≡ ``analyse_gitt(read_cycler(files))``, ``lithmap cycles`` ≡
``analyse_cycles(read_cycler(file))``, ``lithmap pitt`` ≡ ``analyse_pitt(read_cycler(file))``:
the same variables (under the CSV's column names, :data:`CSV_COLUMNS`) with the same values.
"""

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.echem.cycling import CSV_COLUMNS as CYCLES_COLUMNS
from lithmap.echem.gitt import CSV_COLUMNS as GITT_COLUMNS

DATA = Path(__file__).parent / "data"
PULSES = sorted((DATA / "gitt-halfcell").glob("pulse_*.csv"), key=lambda p: int(p.stem.split("_")[1]))
POS = "Positive electrode potential [V]"
GCPL = DATA / "cycler" / "jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"


def invoke(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


def assert_table_equals(path, ds, dim, columns):
    """The CSV at ``path`` holds ``ds`` (dim ``dim``): every variable, same values (%.10g)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == ds.sizes[dim]
    names = {v: columns.get(v, v) for v in ds.data_vars}
    names = {v: c if isinstance(c, tuple) else (c, 1.0) for v, c in names.items()}  # (CSV column, unit factor)
    assert set(rows[0]) == {dim} | {c for c, _ in names.values()}
    np.testing.assert_array_equal([int(r[dim]) for r in rows], ds[dim].values)
    for v, (column, scale) in names.items():
        if ds[v].dtype.kind in "OUS":
            assert [r[column] for r in rows] == [str(x) for x in ds[v].values], v
            continue
        written = np.array([float(r[column]) for r in rows])
        np.testing.assert_allclose(written, ds[v].values * scale, rtol=1e-9, atol=0, equal_nan=True, err_msg=v)


def test_gitt_command_equals_read_cycler_then_analyse_gitt_on_the_real_pulses(tmp_path):
    out = tmp_path / "gitt.csv"
    invoke("gitt", *PULSES, "--radius", "5.22um", "--column", POS, "--capacity", "40mAh", "--theta-start", "0.2",
           "--fit-window", "2s:1min", "--drift-limit", "5", "--out", out)
    ds = lm.analyse_gitt(lm.read_cycler(PULSES, columns={"voltage": POS}), radius="5.22um", capacity="40mAh",
                         theta_start=0.2, fit_window=("2s", "1min"), drift_limit="5mV/h")
    assert ds.sizes["pulse"] == 40 and "theta" in ds
    assert_table_equals(out, ds, "pulse", GITT_COLUMNS)
    assert out.with_suffix(".png").exists()


def test_gitt_command_equals_function_on_a_cycler_file(tmp_path):
    out = tmp_path / "gitt.csv"
    invoke("gitt", GCPL, "--radius", "5um", "--out", out)
    ds = lm.analyse_gitt(lm.read_cycler(GCPL), radius=5e-6)
    assert "soc" in ds
    assert_table_equals(out, ds, "pulse", GITT_COLUMNS)


@pytest.mark.parametrize("mass", [None, "5mg"])
def test_cycles_command_equals_read_cycler_then_analyse_cycles(tmp_path, mass):
    out = tmp_path / "cycles.csv"
    extra = ["--mass", mass, "--capacity", "170mAh/g"] if mass else []
    invoke("cycles", GCPL, *extra, "--out", out)
    rec = lm.read_cycler(GCPL, mass=mass)
    res = lm.analyse_cycles(rec, specific_capacity="170mAh/g" if mass else None)
    assert ("specific_charge_capacity" in res) == bool(mass) and ("charge_c_rate" in res) == bool(mass)
    assert_table_equals(out, res, "cycle", CYCLES_COLUMNS)


def test_cycles_command_equals_function_on_the_neware_file(tmp_path):
    out = tmp_path / "cycles.csv"
    path = lm.example_file("test.ndax")
    invoke("cycles", path, "--out", out)
    assert_table_equals(out, lm.analyse_cycles(lm.read_cycler(path)), "cycle", CYCLES_COLUMNS)


def synthetic_pitt(path):
    """Three potential steps (3.99, 3.98, 3.97 V) of a 2 µm sphere with D = 1e-15 m²/s: each
    current the first three modes of the sphere's decay, sampled geometrically after each switch."""
    d, r = 1e-15, 2e-6
    ts = np.unique(np.r_[np.geomspace(0.1, 7200, 300), np.arange(20, 7200, 20.0)])
    n = np.arange(1, 4)[:, None]
    one = -1e-6 * np.sum(np.exp(-(n**2) * np.pi**2 * d * ts / r**2), axis=0)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Time [s]", "Voltage [V]", "Current [A]"])
        for k, v in enumerate((3.99, 3.98, 3.97)):
            for t, i in zip(k * 7200 + ts, one):
                w.writerow([f"{t:.12g}", v, f"{i:.12g}"])
    return path


def test_pitt_command_equals_read_cycler_then_analyse_pitt(tmp_path):
    src = synthetic_pitt(tmp_path / "pitt.csv")
    out = tmp_path / "d.csv"
    invoke("pitt", src, "--radius", "2um", "--out", out)
    ds = lm.analyse_pitt(lm.read_cycler(src), radius="2um")
    assert ds.sizes["step"] == 3
    np.testing.assert_allclose(ds.diffusivity_m2_s.values, 1e-15, rtol=0.03)
    assert_table_equals(out, ds, "step", GITT_COLUMNS)


def test_units_live_in_attrs_in_one_spelling():
    rec = lm.read_cycler(lm.example_file("test.ndax"), mass="5mg")
    assert {v: rec[v].attrs.get("units") for v in ("time", "voltage", "current", "capacity", "specific_capacity")} == {
        "time": "s", "voltage": "V", "current": "A", "capacity": "mA h", "specific_capacity": "mA h / g"}
    res = lm.analyse_cycles(rec)
    assert res.charge_capacity.attrs["units"] == "mA h" and res.specific_charge_capacity.attrs["units"] == "mA h / g"
    assert res.attrs["mass"] == pytest.approx(5e-6)
    g = lm.analyse_gitt(lm.read_cycler([lm.example_file(f"gitt_pulse_{k}.csv") for k in range(1, 7)]), radius=5.22e-6)
    assert g.diffusivity_m2_s.attrs["units"] == "m^2/s" and g.duration.attrs["units"] == "s"
    assert g.rest_drift.attrs["units"] == "V/s" and g.attrs["radius"] == 5.22e-6
