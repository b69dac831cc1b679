"""``lithmap stress`` end to end: the written variables and constants, and bad input (one line,
exit 2, nothing written)."""

from pathlib import Path

import pytest
import xarray as xr
from typer.testing import CliRunner

from lithmap.cli import app

runner = CliRunner()
BASE = ["stress", "--shape", "sphere:8um", "--protocol", "Charge at 10C for 72 seconds", "--theta0", "0.99",
        "--times", "12s"]
LATTICE = Path(__file__).parent / "data" / "pybamm_stress" / "lattice_partial.csv"


def test_stress_cli_writes_stresses_and_constants(tmp_path):
    out = tmp_path / "st.nc"
    res = runner.invoke(app, BASE + ["--void", "0.5um", "--material", "lrtmo", "--dod", "0.1,0.2",
                                     "--out", str(out), "--plot"])
    assert res.exit_code == 0, res.output
    assert "peak |hoop stress|" in res.output
    ds = xr.load_dataset(out)
    for name in ("theta", "radial_stress", "hoop_stress", "von_mises_stress", "hydrostatic_stress"):
        assert name in ds
    assert ds.hoop_stress.attrs["units"] == "Pa" and ds.hoop_stress_at_dod.dims == ("dod", "r")
    assert float(ds.r[0]) == pytest.approx(0.5e-6)
    assert ds.attrs["youngs_modulus"] == 150e9 and ds.attrs["strain_route"] == "lattice"
    assert (tmp_path / "st_hoop_vs_r.png").exists() and (tmp_path / "st_von_mises.png").exists()
    lin = tmp_path / "lin.nc"
    res = runner.invoke(app, BASE + ["--youngs-modulus", "100GPa", "--poisson-ratio", "0.3",
                                     "--partial-molar-volume", "2e-6m^3/mol", "--c-max", "50000mol/m^3",
                                     "--diffusivity", "5e-13m^2/s", "--out", str(lin)])
    assert res.exit_code == 0, res.output
    ds = xr.load_dataset(lin)
    assert ds.attrs["partial_molar_volume"] == 2e-6 and ds.attrs["c_max"] == 5e4 and ds.attrs["poisson_ratio"] == 0.3


@pytest.mark.parametrize("extra, words", [
    (["--void", "8um", "--material", "lrtmo"], "void"),
    (["--void", "9um", "--material", "lrtmo"], "void"),
    (["--material", "lrtmo", "--poisson-ratio", "0.5"], "poisson_ratio"),
    (["--material", "lrtmo", "--youngs-modulus", "0"], "youngs_modulus"),
    (["--material", "lrtmo", "--youngs-modulus", "-5GPa"], "youngs_modulus"),
    (["--material", "lrtmo", "--temperature", "400K"], "Arrhenius clamp"),
    (["--material", "lrtmo", "--temperature", "200"], "Arrhenius clamp"),
    (["--material", "lrtmo", "--dod", "0.5"], "not reached"),
    (["--material", "lrtmo", "--lattice", str(LATTICE), "--theta0", "0.5"], "covers theta 0.6 to 1"),
    (["--diffusivity", "5e-13", "--youngs-modulus", "1GPa", "--poisson-ratio", "0.3"], "strain route"),
])
def test_stress_cli_bad_input_one_line_exit_2_nothing_written(tmp_path, extra, words):
    out = tmp_path / "bad.nc"
    res = runner.invoke(app, BASE + extra + ["--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and words in lines[0], res.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_stress_cli_rejects_a_void_twice_and_non_spheres(tmp_path):
    out = tmp_path / "bad.nc"
    for shape in ("sphere:8um:void=0.5um", "disc:1um"):
        res = runner.invoke(app, ["stress", "--shape", shape, "--void", "0.5um", "--protocol",
                                  "Charge at 1C for 1 minute", "--material", "lrtmo", "--out", str(out)])
        assert res.exit_code == 2 and not out.exists(), res.output
