"""PITT simulated by the engine (sphere, constant D, linear OCV, fast kinetics) is recovered."""

import csv

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.echem import analyse_pitt
from lithmap.physics.materials import ConstantDiffusivity, FunctionOfTheta, Material, symmetric_exchange_current

D, R = 1e-15, 2e-6


def pitt_record(sim):
    """The simulated PITT as a record (dim ``record``): its C-rate stands in for the current
    (D depends only on the decay's shape; the charge scales with it)."""
    c_rate = sim["c_rate"] if "c_rate" in sim else sim["current"]
    return xr.Dataset({"time": ("record", sim.time.values), "voltage": ("record", sim.voltage.values),
                       "current": ("record", c_rate.values)})


@pytest.fixture(scope="module")
def record():
    mat = Material(name="linear-ocv", diffusivity=ConstantDiffusivity(D),
                   ocv=FunctionOfTheta(lambda th: 4.0 - (th - 0.5), lambda th: -np.ones_like(th)),
                   exchange_current=symmetric_exchange_current(1e4), c_max=5e4)
    times = np.unique(np.concatenate([np.arange(0, 3 * 7200 + 1, 20.0)]
                                     + [s + np.geomspace(0.1, 7200, 300) for s in (0, 7200, 14400)]))
    return lm.simulate(lm.Sphere(R), ["Hold at 3.99 V for 2 hours", "Hold at 3.98 V for 2 hours",
                                      "Hold at 3.97 V for 2 hours"], material=mat, theta0=0.5, times=times)


def test_pitt_recovers_d_from_both_regimes(record):
    g = analyse_pitt(pitt_record(record), radius=R)
    assert g.sizes["step"] == 3 and all(f == "" for f in g.flags.values)
    np.testing.assert_allclose(g.voltage.values, [3.99, 3.98, 3.97])
    np.testing.assert_allclose(g.diffusivity_m2_s.values, D, rtol=0.03)  # exact long-time eigenvalue π²D/r²
    np.testing.assert_allclose(g.diffusivity_cottrell_m2_s.values, D, rtol=0.1)  # short-time, curvature bias
    # each step moves θ by 0.01 (linear OCV, 1 V per unit θ): the charge is the same for all three
    np.testing.assert_allclose(g.charge.values, g.charge.values[0], rtol=1e-3)


def test_pitt_cli_and_bad_input(record, tmp_path):
    src = tmp_path / "pitt.csv"
    with src.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Time [s]", "Voltage [V]", "Current [A]"])
        rec = pitt_record(record)
        for row in zip(rec.time.values, rec.voltage.values, rec.current.values * 1e-3):
            w.writerow([f"{x:.12g}" for x in row])
    out = tmp_path / "d.csv"
    res = CliRunner().invoke(app, ["pitt", str(src), "--radius", "2um", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3 and float(rows[0]["diffusivity_m2_s"]) == pytest.approx(D, rel=0.03)
    with pytest.raises(lm.LithmapError, match="no potential steps"):
        analyse_pitt(xr.Dataset({"time": ("record", np.arange(10.0)), "voltage": ("record", np.ones(10)),
                                 "current": ("record", np.zeros(10))}), radius=R)
