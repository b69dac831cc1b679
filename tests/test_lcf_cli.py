"""`lithmap lcf` end to end on the real Mn standards: single spectra, a TIFF map, bad input."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr
from typer.testing import CliRunner

from lithmap.cli import app
from lithmap.io import read_xdi

D = Path(__file__).parent / "data" / "xanes-standards"
STD = ["--standard", f"{D}/MnO_rt_01.xdi:2", "--standard", f"{D}/Mn2O3_rt_01.xdi:3",
       "--standard", f"{D}/MnO2_rt_01.xdi:4"]
runner = CliRunner()


def test_lcf_cli_mn3o4_and_a_tiff_map(tmp_path):
    out = tmp_path / "lcf.nc"
    res = runner.invoke(app, ["lcf", *STD, "--window", "6535:6580eV", str(D / "Mn3O4_rt_02.xdi"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert 2.6 < float(ds.mean_valence) < 2.8
        w = ds.weights.values
        assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-12 and ds.weights.dims[-1] == "standard"
    # a 6×7 map: raw absorbance of MnO2 (left half) and MnO (right half) on the Mn3O4 grid, one NaN pixel
    mno2, mno = read_xdi(D / "MnO2_rt_02.xdi"), read_xdi(D / "MnO_rt_02.xdi")
    e = mno2.energy.values
    cube = np.empty((e.size, 6, 7))
    cube[:, :, :4] = mno2.mu.values[:, None, None]
    cube[:, :, 4:] = np.interp(e, mno.energy.values, mno.mu.values)[:, None, None]
    cube[:, 2, 2] = np.nan
    stack, energies = tmp_path / "map.tif", tmp_path / "energies.txt"
    tifffile.imwrite(stack, cube.astype(np.float32))
    energies.write_text("\n".join(f"{v:.4f}" for v in e) + "\n")
    out = tmp_path / "map.nc"
    res = runner.invoke(app, ["lcf", *STD, "--window", "6535:6580eV", str(stack), "--energies", str(energies),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "1 NaN pixels masked" in res.output and out.with_suffix(".png").exists()
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        mv = ds.mean_valence.values
        assert np.isnan(mv[2, 2]) and ds.attrs["n_nan_pixels"] == 1
        left, right = mv[:, :4][np.isfinite(mv[:, :4])], mv[:, 4:]
        # a different scan of each standard: each compound comes back near its own valence
        assert np.all(np.abs(left - 4) < 0.1) and np.all(np.abs(right - 2) < 0.1)


@pytest.mark.parametrize("case, message", [
    ("not_increasing", "increas"),
    ("window", "holds 0 energies"),
    ("collinear", "collinear"),
    ("fewer_energies", "energies"),
])
def test_lcf_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, case, message):
    out = tmp_path / "bad.nc"
    sample = str(D / "Mn3O4_rt_02.xdi")
    std, window = STD, "6535:6580eV"
    if case == "not_increasing":
        text = (D / "Mn3O4_rt_02.xdi").read_text().splitlines()
        body = [i for i, line in enumerate(text) if line.strip() and not line.startswith("#")]
        text[body[10]], text[body[11]] = text[body[11]], text[body[10]]
        bad = tmp_path / "swapped.xdi"
        bad.write_text("\n".join(text) + "\n")
        sample = str(bad)
    elif case == "window":
        window = "7000:7100eV"
    elif case == "collinear":
        std = ["--standard", f"{D}/MnO_rt_01.xdi:2", "--standard", f"{D}/MnO_rt_01.xdi:3"]
    elif case == "fewer_energies":
        window = "6550:6550.5eV"
    res = runner.invoke(app, ["lcf", *std, "--window", window, sample, "--out", str(out)])
    assert res.exit_code != 0 and not out.exists()
    assert message in res.output.lower() and len(res.output.strip().splitlines()) == 1, res.output


def test_lcf_cli_more_bad_input_and_a_netcdf_volume(tmp_path):
    # a standard that stops at 6575 eV does not cover the window 6535-6580 eV
    lines = (D / "MnO_rt_01.xdi").read_text().splitlines()
    keep = [ln for ln in lines if ln.startswith("#") or not ln.strip() or float(ln.split()[0]) <= 6575]
    short = tmp_path / "MnO_short.xdi"
    short.write_text("\n".join(keep) + "\n")
    out = tmp_path / "bad.nc"
    std = ["--standard", f"{short}:2", "--standard", f"{D}/Mn2O3_rt_01.xdi:3", "--standard", f"{D}/MnO2_rt_01.xdi:4"]
    res = runner.invoke(app, ["lcf", *std, "--window", "6535:6580eV", str(D / "Mn3O4_rt_02.xdi"), "--out", str(out)])
    assert res.exit_code != 0 and "MnO_short" in res.output and not out.exists(), res.output
    # a TIFF stack whose energies file is not increasing
    e = read_xdi(D / "Mn3O4_rt_02.xdi").energy.values
    stack, energies = tmp_path / "s.tif", tmp_path / "e.txt"
    tifffile.imwrite(stack, np.ones((e.size, 2, 2), np.float32))
    bad_e = e.copy()
    bad_e[[20, 21]] = bad_e[[21, 20]]
    energies.write_text("\n".join(f"{v}" for v in bad_e) + "\n")
    res = runner.invoke(app, ["lcf", *STD, str(stack), "--energies", str(energies), "--out", str(out)])
    assert res.exit_code != 0 and "increas" in res.output and not out.exists(), res.output
    # a NetCDF volume (energy, z, y, x) of raw absorbance: half MnO2, half Mn2O3
    mno2, mn2o3 = read_xdi(D / "MnO2_rt_03.xdi"), read_xdi(D / "Mn2O3_rt_03.xdi")
    a = mno2.mu.values
    b = np.interp(mno2.energy.values, mn2o3.energy.values, mn2o3.mu.values)
    vol = np.empty((a.size, 3, 4, 5))
    vol[..., :2] = a[:, None, None, None]
    vol[..., 2:] = b[:, None, None, None]
    src = tmp_path / "volume.nc"
    xr.Dataset({"absorbance": (("energy", "z", "y", "x"), vol)},
               coords={"energy": ("energy", mno2.energy.values, {"units": "eV"})}).to_netcdf(src, engine="h5netcdf")
    res = runner.invoke(app, ["lcf", *STD, "--window", "6535:6580eV", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.mean_valence.dims == ("z", "y", "x")
        mv = ds.mean_valence.values
        assert np.all(np.abs(mv[..., :2] - 4) < 0.15) and np.all(np.abs(mv[..., 2:] - 3) < 0.15)
