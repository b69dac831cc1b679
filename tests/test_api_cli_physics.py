"""The particle commands equal their library functions; measured and simulated on one grid;
mask and shape readers fail cleanly (one line, exit != 0, no file) on bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image
from typer.testing import CliRunner

import lithmap as lm
from corrupt import check_reader, damaged_copies
from lithmap.cli import app

D_FAST = "1e-11cm^2/s"  # 1e-15 m^2/s: R^2/D = 1000 s on a 1 um particle
PROTOCOL = "Charge at 1C for 10 minutes"
PNG = lm.example_file("example_particle.png")


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(app, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def one_line_failure(result, out, *needles):
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    if out is not None:
        assert not Path(out).exists()
    return lines[0]


def open_nc(path):
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def assert_same(written: xr.Dataset, returned: xr.Dataset):
    """Same variables, coordinates and values (NaN where NaN), same attrs but the version."""
    assert set(written.data_vars) == set(returned.data_vars)
    for name in list(returned.data_vars) + list(returned.coords):
        a, b = np.asarray(written[name].values), np.asarray(returned[name].values)
        assert a.shape == b.shape, name
        if a.dtype.kind in "fc":
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert np.array_equal(a.astype(str), b.astype(str)), name
        assert written[name].attrs.get("units") == returned[name].attrs.get("units"), name
    for key in ("geometry", "protocol", "c_rate_convention", "termination", "material"):
        assert written.attrs.get(key) == returned.attrs.get(key), key


def contrast_like_result(path, *, x0=2.0e-6, y0=-1.0e-6, px=50e-9, mask=None):
    """A small stand-in for a ``lithmap contrast`` result: a ``mask`` (y, x) with coordinates in m
    that do not start at zero (so 'the same grid' is not a coincidence)."""
    m = (np.asarray(Image.open(PNG)) > 127) if mask is None else mask
    ny, nx = m.shape
    ds = xr.Dataset(
        {"mask": (("y", "x"), m.astype(np.int8)), "total_contrast": (("y", "x"), np.zeros(m.shape, np.float32))},
        coords={"y": ("y", y0 + np.arange(ny) * px, {"units": "m"}),
                "x": ("x", x0 + np.arange(nx) * px, {"units": "m"})},
    )
    lm.write_result(ds, path)
    return path


# ----------------------------------------------------------------------------- command = function


def test_simulate_command_equals_function(runner, tmp_path):
    out = tmp_path / "run.nc"
    ok(invoke(runner, "simulate", "--shape", "sphere:1um", "--protocol", PROTOCOL, "--diffusivity", D_FAST,
              "--theta0", "0.9", "--times", "60s", "--out", out))
    returned = lm.simulate("sphere:1um", PROTOCOL, diffusivity=D_FAST, theta0=0.9, times="60s")
    assert_same(open_nc(out), returned)
    assert "c_rate" in returned and "current" not in returned
    assert returned.c_rate.attrs["units"] == "C"
    assert "1C moves the whole particle" in returned.attrs["c_rate_convention"]


def test_simulate_material_and_surface_spacing_equal_function(runner, tmp_path):
    out = tmp_path / "run.nc"
    ok(invoke(runner, "simulate", "--shape", "disc:0.5um", "--pixel-size", "50nm", "--surface-spacing", "20nm",
              "--protocol", "Charge at 1C for 2 minutes", "--material", "nmc811", "--out", out))
    returned = lm.simulate("disc:0.5um", "Charge at 1C for 2 minutes", material="nmc811", pixel_size="50nm",
                           mesh_options={"surface_spacing": "20nm"})
    assert_same(open_nc(out), returned)
    assert "Xu, Merryweather et al., Joule 2022" in returned.attrs["material_paper"]


def test_simulate_example_from_python_like_the_cli(runner, tmp_path):
    out = tmp_path / "example.nc"
    ok(invoke(runner, "simulate", "--shape", "example", "--protocol", "Charge at 1C for 1 minute",
              "--diffusivity", D_FAST, "--times", "30s", "--out", out))
    returned = lm.simulate("example", "Charge at 1C for 1 minute", diffusivity=D_FAST, times="30s")
    assert_same(open_nc(out), returned)
    assert returned.theta.dims == ("time", "y", "x") and returned.theta.shape[1:] == (56, 56)
    np.testing.assert_array_equal(returned.x.values, np.arange(56) * lm.EXAMPLE_PIXEL_SIZE)


def test_sweep_command_equals_function(runner, tmp_path):
    out = tmp_path / "sweep.nc"
    ok(invoke(runner, "sweep", "--radius", "0.5um,1um", "--rate", "0.5,1", "--protocol",
              "Charge at {rate} for 10 minutes", "--diffusivity", D_FAST, "--theta0", "0.9", "--out", out))
    returned = lm.sweep(radius="0.5um,1um", alpha="1", rate="0.5,1", protocol="Charge at {rate} for 10 minutes",
                        diffusivity=D_FAST, theta0=0.9)
    written = open_nc(out)
    assert_same(written, returned)
    np.testing.assert_array_equal(returned.radius.values, [0.5e-6, 1e-6])


def test_sweep_takes_si_numbers_and_quantity_strings_alike():
    kw = dict(alpha=[1.0], rate=[1.0], protocol="Charge at {rate} for 2 minutes", diffusivity=1e-15, theta0=0.9)
    a = lm.sweep(radius=[0.5e-6, 1e-6], **kw)
    b = lm.sweep(radius=["500nm", "1 um"], **kw)
    np.testing.assert_array_equal(a.stop_time.values, b.stop_time.values)
    np.testing.assert_array_equal(a.theta_mean_end.values, b.theta_mean_end.values)


def test_materials_command_prints_describe_materials(runner):
    result = ok(invoke(runner, "materials"))
    assert result.output.strip() == lm.describe_materials().strip()
    assert "Xu, Merryweather et al., Joule 2022" in result.output
    assert "seed" not in result.output


def test_plot_command_equals_function(runner, tmp_path):
    out = tmp_path / "run.nc"
    ok(invoke(runner, "simulate", "--shape", "sphere:1um", "--protocol", "Charge at 1C for 2 minutes",
              "--diffusivity", D_FAST, "--out", out))
    result = ok(invoke(runner, "plot", out, "--out-dir", tmp_path / "cli"))
    files = lm.plot_simulation(out, tmp_path / "api", prefix="run")
    assert sorted(f.name for f in files) == sorted(p.name for p in (tmp_path / "cli").glob("*.png"))
    assert all(str(tmp_path / "cli" / f.name) in result.output for f in files)


# ----------------------------------------------------------------------------- one grid


def test_simulate_shape_result_nc_returns_theta_on_its_exact_grid(runner, tmp_path):
    movie = contrast_like_result(tmp_path / "movie.nc")
    out = tmp_path / "sim.nc"
    ok(invoke(runner, "simulate", "--shape", movie, "--protocol", "Charge at 1C for 1 minute",
              "--diffusivity", D_FAST, "--times", "30s", "--out", out))
    sim = open_nc(out)
    measured = lm.read_result(movie)
    np.testing.assert_array_equal(sim.x.values, measured.x.values)
    np.testing.assert_array_equal(sim.y.values, measured.y.values)
    inside = measured["mask"].values.astype(bool)
    np.testing.assert_array_equal(sim["mask"].values.astype(bool), inside)
    assert np.isfinite(sim.theta.values[:, inside]).all() and np.isnan(sim.theta.values[:, ~inside]).all()
    # the mask DataArray from Python gives the same result as the file from the command line
    returned = lm.simulate(measured["mask"], "Charge at 1C for 1 minute", diffusivity=D_FAST, times="30s")
    for name in ("theta", "theta_mean", "theta_centre", "theta_surface", "c_rate"):
        np.testing.assert_array_equal(returned[name].values, sim[name].values, err_msg=name)
    np.testing.assert_array_equal(returned.x.values, measured.x.values)


def test_a_mask_anywhere_gives_the_same_particle_as_the_png():
    """The same pixels at another origin: the same numbers, shifted coordinates."""
    kw = dict(diffusivity=D_FAST, times=[0.0, 30.0, 60.0])
    png = lm.simulate(lm.from_mask(PNG, 50e-9), "Charge at 1C for 1 minute", **kw)
    da = lm.read_mask(PNG, pixel_size=50e-9)
    here = lm.simulate(da, "Charge at 1C for 1 minute", **kw)
    np.testing.assert_array_equal(here.theta.values, png.theta.values)
    np.testing.assert_array_equal(here.x.values, png.x.values)


def test_dataarray_mask_in_pixel_units_needs_a_pixel_size():
    m = np.asarray(Image.open(PNG)) > 127
    da = xr.DataArray(m, dims=("y", "x"), coords={"y": ("y", np.arange(m.shape[0]) * 1.0, {"units": "pixel"}),
                                                 "x": ("x", np.arange(m.shape[1]) * 1.0, {"units": "pixel"})})
    with pytest.raises(lm.LithmapError, match="pixel size"):
        lm.from_mask(da)
    shape = lm.from_mask(da, "50 nm")
    assert shape.inside.shape == m.shape
    np.testing.assert_allclose(shape.x[1], 50e-9)


def test_dataarray_mask_with_unequal_spacings_is_refused():
    m = np.asarray(Image.open(PNG)) > 127
    da = xr.DataArray(m, dims=("y", "x"), coords={"y": ("y", np.arange(m.shape[0]) * 60e-9, {"units": "m"}),
                                                 "x": ("x", np.arange(m.shape[1]) * 50e-9, {"units": "m"})})
    with pytest.raises(lm.LithmapError, match="square"):
        lm.simulate(da, "Charge at 1C for 1 minute", diffusivity=1e-15)


def test_one_mask_rule_for_arrays_files_and_dataarrays():
    soft = np.zeros((30, 30))
    yy, xx = np.mgrid[0:30, 0:30]
    r = np.hypot(xx - 14.5, yy - 14.5)
    soft[r < 10] = 1.0
    soft[(r >= 10) & (r < 12)] = 0.3  # a soft rim below half the maximum: not particle
    shape = lm.from_mask(soft, 50e-9)
    np.testing.assert_array_equal(shape.inside, lm.read_mask(xr.DataArray(soft, dims=("y", "x"))).values)
    np.testing.assert_array_equal(shape.inside, r < 10)


def test_geometries_take_lengths_with_units():
    assert lm.Sphere("8um") == lm.Sphere(8e-6)
    assert lm.Disc("1 um", pixel_size="100nm").radius == pytest.approx(1e-6)
    with pytest.raises(lm.LithmapError, match="radius='-1um'"):
        lm.Sphere("-1um")


def test_simulate_takes_strings_with_units_like_si_numbers():
    a = lm.simulate(lm.Sphere(1e-6), PROTOCOL, diffusivity=1e-15, theta0=0.9, times=[0, 300, 600])
    b = lm.simulate("sphere:1um", PROTOCOL, diffusivity="1e-11 cm^2/s", theta0=0.9, times="0s,5min,10min")
    np.testing.assert_array_equal(a.theta.values, b.theta.values)


# ----------------------------------------------------------------------------- bad input


def test_truncated_png_is_one_line(runner, tmp_path):
    bad = tmp_path / "cut.png"
    bad.write_bytes(PNG.read_bytes()[:200])
    out = tmp_path / "bad.nc"
    one_line_failure(invoke(runner, "simulate", "--shape", bad, "--pixel-size", "50nm", "--protocol", PROTOCOL,
                            "--diffusivity", D_FAST, "--out", out), out, "cut.png")


def test_result_without_mask_is_one_line(runner, tmp_path):
    src = tmp_path / "nomask.nc"
    lm.write_result(xr.Dataset({"theta": (("x",), np.zeros(3))}), src)
    out = tmp_path / "bad.nc"
    one_line_failure(invoke(runner, "simulate", "--shape", src, "--protocol", PROTOCOL, "--diffusivity", D_FAST,
                            "--out", out), out, "nomask.nc", "mask")


def test_result_with_empty_mask_is_one_line(runner, tmp_path):
    src = contrast_like_result(tmp_path / "empty.nc", mask=np.zeros((20, 20), bool))
    out = tmp_path / "bad.nc"
    one_line_failure(invoke(runner, "simulate", "--shape", src, "--protocol", PROTOCOL, "--diffusivity", D_FAST,
                            "--out", out), out, "empty.nc", "empty")


def test_missing_result_is_one_line(runner, tmp_path):
    out = tmp_path / "bad.nc"
    one_line_failure(invoke(runner, "simulate", "--shape", tmp_path / "nowhere.nc", "--protocol", PROTOCOL,
                            "--diffusivity", D_FAST, "--out", out), out, "nowhere.nc")


def test_plot_of_a_non_simulation_is_one_line(runner, tmp_path):
    src = contrast_like_result(tmp_path / "movie.nc")
    one_line_failure(invoke(runner, "plot", src, "--out-dir", tmp_path), None, "movie.nc", "lithmap simulate")
    assert not list(tmp_path.glob("*.png"))


@damaged_copies(PNG, max_examples=30)
def test_damaged_mask_images_fail_cleanly(path):
    check_reader(lm.from_mask, path, 50e-9)


@damaged_copies(PNG, max_examples=10)
def test_damaged_mask_images_fail_cleanly_through_simulate(path):
    check_reader(lm.simulate, path, "Charge at 1C for 20 s", diffusivity=1e-15, pixel_size=50e-9, times=[0.0, 20.0],
                 mesh_options={"surface_spacing": 50e-9})


# ----------------------------------------------------------------------------- outputs never overwrite inputs


def test_simulate_refuses_to_overwrite_the_result_it_reads(runner, tmp_path):
    movie = contrast_like_result(tmp_path / "movie.nc")
    before = movie.read_bytes()
    result = invoke(runner, "simulate", "--shape", movie, "--protocol", "Charge at 1C for 1 minute",
                    "--diffusivity", D_FAST, "--out", movie, "--overwrite")
    one_line_failure(result, None, "would overwrite an input", str(movie))
    assert movie.read_bytes() == before


def test_simulate_and_sweep_refuse_to_overwrite_the_diffusivity_table(runner, tmp_path):
    table = tmp_path / "d.csv"
    table.write_text("theta,diffusivity_m2_s\n0.8,1e-16\n1.0,1e-18\n")
    before = table.read_bytes()
    sim = invoke(runner, "simulate", "--shape", "sphere:1um", "--protocol", PROTOCOL, "--diffusivity", table,
                 "--out", table, "--overwrite")
    one_line_failure(sim, None, "would overwrite an input")
    sw = invoke(runner, "sweep", "--radius", "1um", "--rate", "1", "--diffusivity", table, "--out", table,
                "--overwrite")
    one_line_failure(sw, None, "would overwrite an input")
    assert table.read_bytes() == before


# ----------------------------------------------------------------------------- sweep reads what simulate reads


def test_sweep_takes_c_rates_as_text_like_numbers(runner, tmp_path):
    kw = dict(radius="1um", alpha="1", protocol="Charge at {rate} for 3 minutes", diffusivity=D_FAST, theta0=0.9)
    text = lm.sweep(rate="C/3,1C", **kw)
    numbers = lm.sweep(rate=[1 / 3, 1.0], **kw)
    np.testing.assert_array_equal(text.rate.values, numbers.rate.values)
    np.testing.assert_array_equal(text.theta_mean_end.values, numbers.theta_mean_end.values)
    out = tmp_path / "sweep.nc"
    ok(invoke(runner, "sweep", "--radius", "1um", "--rate", "C/3,1C", "--protocol", kw["protocol"],
              "--diffusivity", D_FAST, "--theta0", "0.9", "--out", out))
    assert_same(open_nc(out), text)


def test_sweep_takes_the_times_simulate_takes():
    kw = dict(radius="1um", alpha="1", rate="1", protocol="Charge at {rate} for 2 minutes", diffusivity=D_FAST,
              theta0=0.9)
    listed = lm.sweep(times="0,60,120", **kw)
    array = lm.sweep(times=[0.0, 60.0, 120.0], **kw)
    every = lm.sweep(times="60s", **kw)
    for ds in (listed, every):
        np.testing.assert_array_equal(ds.time.values, [0.0, 60.0, 120.0])
        np.testing.assert_array_equal(ds.theta_mean.values, array.theta_mean.values)
    one = lm.simulate("sphere:1um", "Charge at 1.0C for 2 minutes", diffusivity=D_FAST, theta0=0.9, times="60s")
    np.testing.assert_allclose(every.theta_mean.values.ravel(), one.theta_mean.values, atol=1e-9)


@pytest.mark.parametrize("option, value, needle", [
    ("--rate", "fast", "rate='fast' is invalid; expected a C-rate such as C/3"),
    ("--alpha", "big", "alpha='big' is invalid; expected a number"),
    ("--radius", "wide", "radius='wide' is invalid"),
])
def test_sweep_bad_values_are_one_line(runner, tmp_path, option, value, needle):
    args = {"--radius": "1um", "--rate": "1", "--alpha": "1"}
    args[option] = value
    out = tmp_path / "sweep.nc"
    result = invoke(runner, "sweep", *[x for kv in args.items() for x in kv], "--diffusivity", D_FAST, "--out", out)
    line = one_line_failure(result, out, needle)
    assert "such as '2 '" not in line


def test_sweep_end_variables_have_units_and_names():
    ds = lm.sweep(radius="1um", alpha="1", rate="1", protocol="Charge at {rate} for 1 minute", diffusivity=D_FAST)
    for name in ("theta_mean_end", "theta_surface_end", "theta_centre_end"):
        assert ds[name].attrs["units"] == "1" and "lithium fraction" in ds[name].attrs["long_name"], name
    assert "why the run ended" in ds["termination"].attrs["long_name"]


def test_a_surface_that_empties_says_how_to_stop_at_the_limit(runner, tmp_path):
    """The contract example on an 8 um NMC811 sphere empties its surface at ~1771 s: an error that
    names the option that turns it into the end of the run."""
    out = tmp_path / "run.nc"
    result = invoke(runner, "simulate", "--shape", "sphere:8um", "--material", "nmc811", "--protocol",
                    "Charge at C/3 for 1 hour", "--out", out)
    one_line_failure(result, out, "empties the particle surface", "--stop-at-limit")
    # the event time converges to 1770.975 s (tol 1e-4 runs); the default tolerance places it within 0.05 s
    t_event = float(re.search(r"t=([0-9.]+) s", result.output).group(1))
    assert abs(t_event - 1770.975) < 0.05
    ok(invoke(runner, "simulate", "--shape", "sphere:8um", "--material", "nmc811", "--protocol",
              "Charge at C/3 for 1 hour", "--stop-at-limit", "--out", out))
    assert "surface theta reached 0" in open_nc(out).attrs["termination"]


def test_mask_geometry_is_described_in_pixels():
    ds = lm.simulate("example", "Charge at 1C for 1 minute", diffusivity=D_FAST, times="30s")
    assert " pixels of 5e-08 m" in ds.attrs["geometry"] and " px " not in ds.attrs["geometry"]
