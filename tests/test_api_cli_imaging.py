"""Command equals function, for the imaging commands: what `lithmap contrast`, `lithmap particles`
and `lithmap movie` write is what lithmap.analyse_movie, lithmap.particle_table and write_movie
return — same variables, same values — for the same input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from PIL import Image
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.io.tables import read_columns

MASS_G = 5.1e-3


def run(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def assert_same(written: xr.Dataset, returned: xr.Dataset):
    """The file a command wrote holds the Dataset the function returns: same variables,
    coordinates and values (NaN where NaN), same units."""
    assert set(written.data_vars) == set(returned.data_vars)
    assert set(written.coords) == set(returned.coords)
    for name in list(returned.data_vars) + list(returned.coords):
        a, b = np.asarray(written[name].values), np.asarray(returned[name].values)
        assert a.shape == b.shape, name
        if a.dtype.kind in "fc":
            np.testing.assert_array_equal(a, b.astype(a.dtype), err_msg=name)
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)
        assert written[name].attrs.get("units") == returned[name].attrs.get("units"), name
    for key in ("reference_frame", "calibration_slope", "calibration_intercept", "frames_outside_log"):
        if key in returned.attrs:
            assert written.attrs[key] == returned.attrs[key], key


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory):
    """A cycler log of C/3 for 5.1 mg of NMC811 (70 mA/g), from 10 min before the movie."""
    p = tmp_path_factory.mktemp("log") / "log.csv"
    t = np.arange(-600.0, 4200.0, 10.0)
    p.write_text("Time [s],Voltage [V],Current [A]\n" + "".join(f"{a},{3.6 + 1e-5 * a},{70e-3 * MASS_G}\n" for a in t))
    return p


def test_contrast_command_equals_analyse_movie(tmp_path):
    out = tmp_path / "movie.nc"
    run("contrast", "example", "--out", out)
    ds = lm.analyse_movie("example")
    assert_same(lm.read_result(out), ds)
    assert {"intensity", "total_contrast", "mask", "drift", "intensity_normalised"} <= set(ds.data_vars)
    # the same analysis from a movie read first, as a Python user would
    assert_same(lm.read_result(out), lm.analyse_movie(lm.read_movie("example")))


def test_contrast_with_a_rate_equals_the_function(tmp_path):
    out = tmp_path / "rate.nc"
    run("contrast", "example", "--rate", "C/3", "--material", "nmc811", "--out", out)
    ds = lm.analyse_movie("example", rate="C/3", material="nmc811")
    assert_same(lm.read_result(out), ds)
    assert ds.theta.dims == ("time", "y", "x")
    assert_same(ds, lm.analyse_movie("example", rate=1 / 3, material=lm.nmc811()))  # numbers and objects too


def test_contrast_with_a_log_and_coulomb_counting_equals_the_function(tmp_path, log_csv):
    mask = tmp_path / "mask.png"
    Image.fromarray(np.asarray(lm.particle_mask(lm.read_movie("example")[0])).astype(np.uint8) * 255).save(mask)
    out = tmp_path / "log.nc"
    run("contrast", "example", "--log", log_csv, "--log-offset", "0s", "--mass", "5.1mg", "--material", "nmc811",
        "--mask", mask, "--line", "minor", "--out", out)
    ds = lm.analyse_movie("example", log=log_csv, log_offset="0 s", mass="5.1 mg", material="nmc811", mask=mask,
                          line="minor")
    assert_same(lm.read_result(out), ds)
    assert ds.current.attrs["units"] == "A" and ds.voltage.attrs["units"] == "V"
    np.testing.assert_allclose(ds.current.values, 70e-3 * MASS_G)
    # SI numbers and a cycler Dataset give the same as strings and a file
    same = lm.analyse_movie("example", log=lm.read_cycler(log_csv), log_offset=0.0, mass=MASS_G * 1e-3,
                            material="nmc811", mask=lm.read_mask(mask), line="minor")
    for v in ("theta", "charge_passed", "voltage"):
        np.testing.assert_allclose(same[v].values, ds[v].values, rtol=1e-12, atol=1e-15, err_msg=v)


def test_contrast_mass_as_a_bare_number_is_in_grams(tmp_path, log_csv):
    """The CLI's documented unit for a bare --mass is g (as before the API became SI)."""
    bare, given = tmp_path / "bare.nc", tmp_path / "given.nc"
    run("contrast", "example", "--log", log_csv, "--mass", str(MASS_G), "--material", "nmc811", "--out", bare)
    run("contrast", "example", "--log", log_csv, "--mass", f"{MASS_G * 1e3}mg", "--material", "nmc811", "--out", given)
    a, b = lm.read_result(bare), lm.read_result(given)
    np.testing.assert_allclose(a.theta.values, b.theta.values, rtol=1e-12, atol=1e-15)
    assert np.nanmean(a.theta.values[-1]) < 0.9  # the particle delithiates: not a 1000x too large mass


def test_contrast_with_a_table_times_and_a_reference_time_equals_the_function(tmp_path):
    table = tmp_path / "cal.csv"
    table.write_text("total_contrast,theta\n-0.02,0.9948\n0.0,0.97\n0.6,0.225\n")
    times = tmp_path / "times.csv"
    times.write_text("time\n" + "".join(f"{10.0 * k + 3}\n" for k in range(31)))
    a, b = tmp_path / "cal.nc", tmp_path / "times.zarr"
    run("contrast", "example", "--calibration", table, "--particles", "--out", a)
    assert_same(lm.read_result(a), lm.analyse_movie("example", calibration=table, particles=True))
    run("contrast", "example", "--times-csv", times, "--reference-time", "250s", "--pixel-size", "40nm",
        "--no-register", "--lazy", "--out", b)
    ds = lm.analyse_movie("example", times=times, reference_time="250 s", pixel_size="40 nm", register=False,
                          lazy=True)
    assert_same(lm.read_result(b), ds.compute())
    assert ds.attrs["reference_frame"] == 25 and float(ds.x[1]) == pytest.approx(40e-9)


def test_the_mask_of_a_result_is_on_the_movie_grid(tmp_path):
    out = tmp_path / "movie.nc"
    run("contrast", "example", "--out", out)
    mask = lm.read_mask(out)
    ds = lm.read_result(out)
    assert mask.dims == ("y", "x") and mask.dtype == bool and mask.x.attrs["units"] == "m"
    np.testing.assert_array_equal(mask.x.values, ds.x.values)
    np.testing.assert_array_equal(mask.y.values, np.arange(80) * lm.EXAMPLE_PIXEL_SIZE)
    np.testing.assert_array_equal(mask.values, ds["mask"].values.astype(bool))


def test_particles_command_equals_particle_table(tmp_path):
    out = tmp_path / "table.csv"
    printed = run("particles", "example", "--out", out)
    table = lm.particle_table("example")
    fields, rows = read_columns(out)
    assert fields == ["particle"] + list(table.data_vars)
    assert len(rows) == table.sizes["particle"]
    for k, row in enumerate(rows):
        assert int(row["particle"]) == int(table.particle[k])
        for v in table.data_vars:
            assert float(row[v]) == pytest.approx(float(table[v][k]), rel=1e-9), v
    assert f"area {int(table.pixel_count[0])} pixels" in printed and "um" in printed
    # the same from a movie read first, and with a pixel size given
    assert_same(table, lm.particle_table(lm.read_movie("example")))
    printed = run("particles", "example", "--pixel-size", "40nm", "--min-area", "5")
    small = lm.particle_table("example", pixel_size="40 nm", min_area=5)
    assert f"{float(small.equivalent_diameter[0]) * 1e6:.3g} um" in printed


def test_movie_command_equals_write_movie(tmp_path):
    nc, a, b = tmp_path / "m.nc", tmp_path / "cli.gif", tmp_path / "api.gif"
    run("contrast", "example", "--no-register", "--out", nc)
    run("movie", nc, "--out", a, "--max-frames", "4")
    from lithmap.report.movie import write_movie

    assert write_movie(nc, b, max_frames=4) == b
    with Image.open(a) as x, Image.open(b) as y:
        assert x.n_frames == y.n_frames == 4
        for k in range(4):
            x.seek(k)
            y.seek(k)
            np.testing.assert_array_equal(np.asarray(x.convert("RGB")), np.asarray(y.convert("RGB")))


def test_conflicting_options_are_one_line_errors():
    with pytest.raises(lm.LithmapError, match="give one calibration"):
        lm.analyse_movie("example", rate="C/3", calibration="cal.csv")
    with pytest.raises(lm.LithmapError, match="give the reference once"):
        lm.analyse_movie("example", reference=1, reference_time="2 min")
    with pytest.raises(lm.LithmapError, match="give log"):
        lm.analyse_movie("example", mass="5 mg")
    with pytest.raises(lm.LithmapError, match="a DataArray carries its own"):
        lm.analyse_movie(lm.read_movie("example"), times=10)
    with pytest.raises(lm.LithmapError, match="rate='70 mA/g' is invalid"):
        lm.analyse_movie("example", rate="70 mA/g")
