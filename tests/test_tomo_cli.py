"""`lithmap reconstruct`: files in, a volume out that `lithmap pores` and `lithmap lcf` read as they are;
bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import xarray as xr
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app

ANGLES = np.arange(-65, 66, 1.0)


@pytest.fixture(scope="module")
def tilt_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tilt")
    ph = lm.particle_phantom(40, void=0, inclusions=0, pores=3, pore_radius=0.2, pixel_size="10nm", seed=2)
    p = lm.project(ph["volume"], ANGLES)
    p.to_dataset(name="projections").to_netcdf(d / "tilt.nc", engine="h5netcdf")
    tifffile.imwrite(d / "tilt.tif", p.values.astype(np.float32), photometric="minisblack")
    (d / "angles.txt").write_text("\n".join(f"{a:g}" for a in ANGLES))
    return d, ph


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_reconstruct_netcdf_writes_the_volume_and_its_figure(tilt_files):
    d, ph = tilt_files
    out = d / "vol.nc"
    res = _run("reconstruct", d / "tilt.nc", "--out", out, "--iterations", 20)
    assert res.exit_code == 0, res.output
    assert out.exists() and out.with_suffix(".png").exists()
    ds = lm.read_result(out)
    assert ds["volume"].dims == ("z", "y", "x") and ds["x"].attrs["units"] == "m"


def test_pores_reads_the_reconstructed_volume(tilt_files):
    d, ph = tilt_files
    out = d / "vol_pores.nc"
    res = _run("reconstruct", d / "tilt.nc", "--out", out, "--iterations", 20)
    assert res.exit_code == 0, res.output
    ds = lm.read_result(out)
    thr = float(np.percentile(ds["volume"].values[ds["volume"].values > 0], 50)) / 2
    res = _run("pores", out, "--out", d / "pores.nc", "--threshold", thr)
    assert res.exit_code == 0, res.output
    pores = lm.read_result(d / "pores.nc")
    assert pores["pore_volume"].attrs["units"] == "m^3"  # the voxel size travelled with the volume
    assert int((pores["pore_volume"].values > 50e-24).sum()) == 3


def test_reconstruct_tiff_with_angles_and_align(tilt_files):
    d, _ = tilt_files
    out = d / "vol_tif.nc"
    res = _run("reconstruct", d / "tilt.tif", "--angles", d / "angles.txt", "--pixel-size", "10nm", "--align",
               "--method", "fbp", "--out", out)
    assert res.exit_code == 0, res.output
    assert "tilt axis" in res.output
    ds = lm.read_result(out)
    assert np.isclose(float(ds["x"][1]), 1e-8) and ds["shift_x"].dims == ("angle",)
    assert abs(ds.attrs["tilt_axis_offset"]) < 0.3e-8  # the phantom's axis is the centre


def test_spectral_series_reconstructs_to_absorbance_that_lcf_reads(tmp_path):
    energy = np.linspace(6535, 6590, 12)
    std = {n: lm.normalise(lm.read_spectra(lm.example_file(f"{n}_rt_01.xdi"))["mu"]) for n in ("Mn2O3", "MnO2")}
    spectra = lm.interpolate_standards(std, energy).values
    ph = lm.particle_phantom((24, 3, 24), void=0, inclusions=0, radius=0.4, pixel_size="20nm")
    absorb = ph["volume"].values[None] * (0.5 * spectra[:, 0] + 0.5 * spectra[:, 1])[:, None, None, None]
    vol = xr.DataArray(absorb, dims=("energy", "z", "y", "x"), coords={"energy": ("energy", energy, {"units": "eV"})})
    lm.project(vol, ANGLES[::5], pixel_size="20nm").to_dataset(name="projections").to_netcdf(
        tmp_path / "spectral.nc", engine="h5netcdf")
    res = _run("reconstruct", tmp_path / "spectral.nc", "--out", tmp_path / "abs.nc", "--iterations", 10)
    assert res.exit_code == 0, res.output
    assert lm.read_result(tmp_path / "abs.nc")["absorbance"].dims == ("energy", "z", "y", "x")
    res = _run("lcf", tmp_path / "abs.nc", "--standard", f"{lm.example_file('Mn2O3_rt_01.xdi')}:3",
               "--standard", f"{lm.example_file('MnO2_rt_01.xdi')}:4", "--out", tmp_path / "lcf.nc")
    assert res.exit_code == 0, res.output  # the reconstruction's own particle mask picks the voxels fitted
    assert "mask stored in abs.nc" in res.output
    fit = lm.read_result(tmp_path / "lcf.nc")
    assert fit["mean_valence"].dims[-3:] == ("z", "y", "x")
    mask = lm.read_result(tmp_path / "abs.nc")["mask"].values.astype(bool)
    mv = fit["mean_valence"].transpose(..., "z", "y", "x").values.reshape(mask.shape)
    assert np.isfinite(mv[mask]).all() and np.isnan(mv[~mask]).all()
    assert lm.read_mask(tmp_path / "abs.nc", ndim=3).values.sum() == mask.sum()  # as clusters --mask reads it


@pytest.mark.parametrize("case, message", [
    ("one", "single projection"),
    ("angles", "gives 5 angles but the stack has 131"),
    ("range", "tilt range is 10°"),
    ("nan", "non-finite"),
    ("nopixel", "--pixel-size"),
])
def test_bad_input_one_line_exit_2_nothing_written(tilt_files, tmp_path, case, message):
    d, _ = tilt_files
    out = tmp_path / "vol.nc"
    args = ["reconstruct", d / "tilt.tif", "--angles", "-65:65:1", "--pixel-size", "10nm", "--out", out]
    if case == "one":
        tifffile.imwrite(tmp_path / "one.tif", np.ones((1, 8, 8), np.float32))
        args[1], args[3] = tmp_path / "one.tif", "0:0:1"
    elif case == "angles":
        args[3] = "-60:60:30"
    elif case == "range":
        tifffile.imwrite(tmp_path / "few.tif", np.ones((3, 8, 8), np.float32), photometric="minisblack")
        args[1], args[3] = tmp_path / "few.tif", "-5:5:5"
    elif case == "nan":
        a = np.ones((3, 8, 8), np.float32)
        a[1, 2, 3] = np.nan
        tifffile.imwrite(tmp_path / "nan.tif", a, photometric="minisblack")
        args[1], args[3] = tmp_path / "nan.tif", "-30:30:30"
    else:
        args = args[:4] + args[6:]
    res = _run(*args)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], res.output
    assert not out.exists() and not out.with_suffix(".png").exists()


@pytest.mark.parametrize("case, message", [
    ("negated", "mostly negative: give absorbance"),
    ("counts", "look like transmitted intensity"),
])
def test_wrong_kind_of_projections_one_line_exit_2_nothing_written(tilt_files, tmp_path, case, message):
    d, _ = tilt_files
    p = xr.open_dataset(d / "tilt.nc", engine="h5netcdf")["projections"].load()
    bad = -p if case == "negated" else 1000 * np.exp(-p)
    bad.to_dataset(name="projections").to_netcdf(tmp_path / "bad.nc", engine="h5netcdf")
    out = tmp_path / "vol.nc"
    res = _run("reconstruct", tmp_path / "bad.nc", "--out", out, "--iterations", 2)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], res.output
    assert not out.exists() and not out.with_suffix(".png").exists()
    if case == "counts":  # and --transmission takes −ln(I/I0) with I0 from the border
        res = _run("reconstruct", tmp_path / "bad.nc", "--transmission", "--out", out, "--iterations", 10)
        assert res.exit_code == 0, res.output
        got = lm.read_result(out)["volume"].values
        res = _run("reconstruct", d / "tilt.nc", "--out", tmp_path / "ref.nc", "--iterations", 10)
        ref = lm.read_result(tmp_path / "ref.nc")["volume"].values
        assert np.abs(got - ref).max() < 1e-3 * ref.max()


def test_the_volume_mask_is_read_by_shells_and_lcf(tilt_files, tmp_path):
    d, ph = tilt_files
    out = tmp_path / "vol.nc"
    res = _run("reconstruct", d / "tilt.nc", "--out", out, "--iterations", 10)
    assert res.exit_code == 0 and "particle mask" in res.output, res.output
    ds = lm.read_result(out)
    assert ds["mask"].dims == ("z", "y", "x") and "Otsu" in ds["mask"].attrs["rule"]
    particle = ph["phase"].values > 0
    m = ds["mask"].values.astype(bool)
    assert (m & particle).sum() / (m | particle).sum() >= 0.9
    res = _run("shells", out, "--variable", "volume", "--out", tmp_path / "shells.csv")
    assert res.exit_code == 0, res.output
    assert f"of {int(m.sum())} pixels/voxels" in res.output  # the result's own mask, not every finite voxel
