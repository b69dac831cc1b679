"""The ``lithmap`` command line (contracts in DESIGN.md, "Contracts used by checks outside the
test suite"): every command has --help; success exits 0 and prints one line; bad input prints
one line naming the bad value, exits non-zero and writes no output file.

Small, fast problems only. D = 1e-11 cm²/s (1e-15 m²/s) on a 1 µm particle: R²/D = 1000 s, so
1C for 10 minutes stays well clear of emptying the surface. (1e-14 cm²/s at that size empties
the surface within ~80 s at 1C — a correct error, not a smoke test.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from lithmap.cli import app

D_FAST = "1e-11cm^2/s"
PROTOCOL = "Charge at 1C for 10 minutes"


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(app, [str(a) for a in args])


def simulate_args(out, *extra, shape="sphere:1um", protocol=PROTOCOL, diffusivity=D_FAST, theta0="0.9"):
    args = ["simulate", "--shape", shape, "--protocol", protocol, "--out", out]
    if diffusivity is not None:
        args += ["--diffusivity", diffusivity]
    if theta0 is not None:
        args += ["--theta0", theta0]
    return args + list(extra)


def lines(result):
    return [ln for ln in result.output.splitlines() if ln.strip()]


def assert_ok(result):
    assert result.exit_code == 0, result.output
    assert result.exception is None


def assert_one_line_failure(result, out, *needles):
    """Non-zero exit, no traceback, exactly one line that names the bad input, no output file."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    out_lines = lines(result)
    assert len(out_lines) == 1, result.output
    for needle in needles:
        alternatives = needle if isinstance(needle, tuple) else (needle,)
        assert any(a in out_lines[0] for a in alternatives), (needle, out_lines[0])
    if out is not None:
        assert not Path(out).exists()
        assert not list(Path(out).parent.glob("*.tmp")), "a temporary file was left behind"
    return out_lines[0]


def open_nc(path):
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def circle_png(path, size=40, box=(8, 8, 31, 31)):
    im = Image.new("L", (size, size), 0)
    ImageDraw.Draw(im).ellipse(box, fill=255)
    im.save(path)
    return path


# ----------------------------------------------------------------------------- entry point, help


def test_installed_entry_point_runs():
    exe = Path(sys.executable).with_name("lithmap")
    assert exe.is_file(), f"console script {exe} is not installed"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for command in ("simulate", "plot", "sweep", "materials"):
        assert command in proc.stdout


@pytest.mark.parametrize("command", [[], ["simulate"], ["plot"], ["sweep"], ["materials"]],
                         ids=lambda c: c[0] if c else "lithmap")
def test_help(runner, command):
    result = invoke(runner, *command, "--help")
    assert_ok(result)
    assert "Usage" in result.output


# ----------------------------------------------------------------------------- smoke


@pytest.fixture(scope="module")
def sphere_run(tmp_path_factory, runner):
    out = tmp_path_factory.mktemp("sphere") / "run.nc"
    result = invoke(runner, *simulate_args(out))
    return out, result


def test_simulate_sphere(sphere_run):
    out, result = sphere_run
    assert_ok(result)
    assert len(lines(result)) == 1
    assert str(out) in result.output and "protocol complete" in result.output
    ds = open_nc(out)
    assert ds.time.attrs["units"] == "s"
    assert ds.time.dtype.kind == "f"
    assert float(ds.time[0]) == 0.0 and float(ds.time[-1]) == pytest.approx(600.0)
    assert ds.theta.dims == ("time", "r")
    assert ds.r.attrs["units"] == "m"
    assert float(ds.r.max()) == pytest.approx(1e-6)
    for name in ("theta_mean", "theta_centre", "theta_surface", "c_rate"):
        assert ds[name].dims == ("time",), name
    assert "voltage" not in ds  # no OCV without a material
    assert float(ds.theta_mean[0]) == pytest.approx(0.9)
    # --diffusivity alone: 1C moves theta by 1 per hour
    assert float(ds.theta_mean[-1]) == pytest.approx(0.9 - 1 / 6, abs=1e-6)
    np.testing.assert_allclose(ds.c_rate.values[1:], 1.0)
    assert "1C moves the whole particle" in ds.attrs["c_rate_convention"]
    assert np.all(ds.theta_surface.values <= ds.theta_centre.values + 1e-12)  # charging empties the surface first


def test_simulate_with_material_has_voltage(runner, tmp_path):
    out = tmp_path / "run.nc"
    result = invoke(runner, *simulate_args(out, "--material", "nmc811"))
    assert_ok(result)
    assert len(lines(result)) == 1
    ds = open_nc(out)
    for name in ("theta", "theta_mean", "theta_centre", "theta_surface", "c_rate", "voltage"):
        assert name in ds, name
    assert ds.voltage.dims == ("time",)
    assert ds.voltage.attrs["units"] == "V"
    assert np.all(np.isfinite(ds.voltage.values))
    assert ds.attrs["material"] == "nmc811"
    # 1C delivers the practical 210 mAh/g of the theoretical in one hour
    frac = ds.attrs["capacity_fraction"]
    assert frac == pytest.approx(0.7636, abs=1e-3)
    assert float(ds.theta_mean[-1]) == pytest.approx(0.9 - frac / 6, abs=1e-6)
    assert "210" in ds.attrs["c_rate_convention"]


def test_simulate_disc_on_pixel_grid(runner, tmp_path):
    out = tmp_path / "disc.nc"
    result = invoke(runner, *simulate_args(out, "--pixel-size", "50nm", "--surface-spacing", "20nm",
                                           shape="disc:0.5um"))
    assert_ok(result)
    assert len(lines(result)) == 1
    ds = open_nc(out)
    assert ds.theta.dims == ("time", "y", "x")
    assert ds.x.attrs["units"] == "m" and ds.y.attrs["units"] == "m"
    np.testing.assert_allclose(np.diff(ds.x.values), 50e-9)
    np.testing.assert_allclose(np.diff(ds.y.values), 50e-9)
    assert ds.theta.shape[1:] == (21, 21)
    inside = ds.mask.values.astype(bool)
    assert np.all(np.isfinite(ds.theta.values[:, inside]))
    assert np.all(np.isnan(ds.theta.values[:, ~inside]))
    for name in ("theta_mean", "theta_centre", "theta_surface", "c_rate"):
        assert ds[name].dims == ("time",)
    assert float(ds.theta_mean[-1]) == pytest.approx(0.9 - 1 / 6, abs=1e-6)


def test_simulate_mask_png_on_its_own_grid(runner, tmp_path):
    png = circle_png(tmp_path / "particle.png", size=40)
    out = tmp_path / "mask.nc"
    result = invoke(runner, *simulate_args(out, "--pixel-size", "50nm", shape=png))
    assert_ok(result)
    assert len(lines(result)) == 1
    ds = open_nc(out)
    assert ds.theta.dims == ("time", "y", "x")
    assert ds.theta.shape[1:] == (40, 40)
    np.testing.assert_allclose(ds.x.values, np.arange(40) * 50e-9)
    np.testing.assert_allclose(ds.y.values, np.arange(40) * 50e-9)
    pixels = np.asarray(Image.open(png)) > 127
    np.testing.assert_array_equal(ds.mask.values.astype(bool), pixels)
    assert np.all(np.isfinite(ds.theta.values[:, pixels]))


def test_simulate_diffusivity_csv_table(runner, tmp_path):
    table = tmp_path / "gitt.csv"
    table.write_text("theta,diffusivity_m2_s,flags\n1.0,1e-16,\n0.9,,bad pulse\n0.8,1e-15,\n0.5,2e-15,noisy\n")
    out = tmp_path / "table.nc"
    result = invoke(runner, *simulate_args(out, diffusivity=table))
    assert_ok(result)
    assert len(lines(result)) == 1
    ds = open_nc(out)
    assert "TabulatedDiffusivity(3 rows" in ds.attrs["diffusivity"]
    assert float(ds.theta_mean[-1]) == pytest.approx(0.9 - 1 / 6, abs=1e-6)


def test_simulate_times_interval(runner, tmp_path):
    out = tmp_path / "times.nc"
    result = invoke(runner, *simulate_args(out, "--times", "60s"))
    assert_ok(result)
    t = open_nc(out).time.values
    np.testing.assert_allclose(t, np.arange(0.0, 601.0, 60.0))


def test_plot_writes_pngs(runner, sphere_run, tmp_path):
    out, _ = sphere_run
    result = invoke(runner, "plot", out, "--out-dir", tmp_path)
    assert_ok(result)
    assert len(lines(result)) == 1
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) >= 1
    for png in pngs:
        assert png.name.startswith("run")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert str(png) in result.output
        with Image.open(png) as im:
            assert im.size[0] > 100 and im.size[1] > 100


def test_plot_of_a_missing_file(runner, tmp_path):
    missing = tmp_path / "nothing.nc"
    assert_one_line_failure(invoke(runner, "plot", missing), None, "nothing.nc")
    assert not list(tmp_path.glob("*.png"))


def test_materials_lists_nmc811(runner):
    result = invoke(runner, "materials")
    assert_ok(result)
    assert "nmc811" in result.output
    assert "210" in result.output


def test_sweep(runner, tmp_path):
    out = tmp_path / "sweep.nc"
    result = invoke(
        runner, "sweep", "--radius", "0.5um,1um", "--alpha", "1", "--rate", "0.5,1",
        "--protocol", "Charge at {rate} for 10 minutes", "--diffusivity", D_FAST, "--theta0", "0.9", "--out", out,
    )
    assert_ok(result)
    assert len(lines(result)) == 1
    ds = open_nc(out)
    assert ds.stop_time.shape == (2, 1, 2)
    assert ds.stop_time.dims == ("radius", "alpha", "rate")
    np.testing.assert_allclose(ds.radius.values, [0.5e-6, 1e-6])
    np.testing.assert_allclose(ds.rate.values, [0.5, 1.0])
    np.testing.assert_allclose(ds.stop_time.values, 600.0)


def test_sweep_rejects_a_zero_rate(runner, tmp_path):
    out = tmp_path / "sweep.nc"
    result = invoke(runner, "sweep", "--radius", "1um", "--rate", "0,1", "--diffusivity", D_FAST, "--out", out)
    assert_one_line_failure(result, out, "rate=")


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "extra, diffusivity, needles",
    [
        ([], "0", ["diffusivity=", "0"]),
        ([], "-1e-14cm^2/s", ["diffusivity=", ("-1e-14cm^2/s", "-1e-18")]),
        ([], "nan", ["diffusivity=", "nan"]),
        ([], "inf", ["diffusivity=", "inf"]),
        ([], "5 m", ["diffusivity=", "5 m"]),
        (["--theta0", "1.5"], D_FAST, ["theta0=1.5"]),
        (["--theta0", "-0.1"], D_FAST, ["theta0=-0.1"]),
        (["--material", "unobtainium"], None, ["unobtainium"]),
        (["--pixel-size", "-5nm"], D_FAST, ["-5nm"]),
        (["--times", "0s"], D_FAST, ["times=", "0s"]),
        (["--alpha", "0"], D_FAST, ["alpha=", "0.0"]),
        (["--alpha", "-2"], D_FAST, ["alpha=", "-2.0"]),
    ],
    ids=["D=0", "D<0", "D=nan", "D=inf", "D=length", "theta0>1", "theta0<0", "material", "pixel<0", "times=0",
         "alpha=0", "alpha<0"],
)
def test_simulate_bad_values(runner, tmp_path, extra, diffusivity, needles):
    out = tmp_path / "bad.nc"
    args = simulate_args(out, *extra, diffusivity=diffusivity, theta0=None)
    assert_one_line_failure(invoke(runner, *args), out, *needles)


def test_simulate_missing_diffusivity_table(runner, tmp_path):
    out = tmp_path / "bad.nc"
    result = invoke(runner, *simulate_args(out, diffusivity=tmp_path / "nowhere.csv"))
    assert_one_line_failure(result, out, "nowhere.csv")


def test_simulate_empty_mask(runner, tmp_path):
    png = tmp_path / "empty.png"
    Image.new("L", (30, 30), 0).save(png)
    out = tmp_path / "bad.nc"
    result = invoke(runner, *simulate_args(out, "--pixel-size", "50nm", shape=png))
    assert_one_line_failure(result, out, "empty.png", "empty")


def test_simulate_mask_with_two_blobs(runner, tmp_path):
    png = tmp_path / "two.png"
    im = Image.new("L", (40, 40), 0)
    draw = ImageDraw.Draw(im)
    draw.ellipse((2, 2, 14, 14), fill=255)
    draw.ellipse((22, 22, 36, 36), fill=255)
    im.save(png)
    out = tmp_path / "bad.nc"
    result = invoke(runner, *simulate_args(out, "--pixel-size", "50nm", shape=png))
    assert_one_line_failure(result, out, "two.png", "2 separate parts")


def test_simulate_mask_without_pixel_size(runner, tmp_path):
    png = circle_png(tmp_path / "particle.png")
    out = tmp_path / "bad.nc"
    assert_one_line_failure(invoke(runner, *simulate_args(out, shape=png)), out, "particle.png", "--pixel-size")


def test_simulate_unparseable_protocol(runner, tmp_path):
    out = tmp_path / "bad.nc"
    result = invoke(runner, *simulate_args(out, protocol="Charge quickly"))
    assert_one_line_failure(result, out, "'Charge quickly'")


def test_simulate_surface_empties_before_the_step_ends(runner, tmp_path):
    out = tmp_path / "bad.nc"
    step = "Charge at 1C for 2 hours"
    result = invoke(runner, *simulate_args(out, "--material", "nmc811", shape="sphere:8um", protocol=step,
                                           diffusivity=None, theta0=None))
    line = assert_one_line_failure(result, out, f"'{step}'", "surface")
    assert "empties" in line and "--stop-at-limit" in line


def test_simulate_stop_at_limit_ends_the_run_instead(runner, tmp_path):
    out = tmp_path / "stop.nc"
    result = invoke(
        runner, *simulate_args(out, "--material", "nmc811", "--stop-at-limit", shape="sphere:8um",
                               protocol="Charge at 1C for 2 hours", diffusivity=None, theta0=None),
    )
    assert_ok(result)
    ds = open_nc(out)
    assert "surface theta reached 0" in ds.attrs["termination"]
    assert float(ds.time[-1]) < 7200.0


def test_simulate_cut_off_never_reached(runner, tmp_path):
    out = tmp_path / "bad.nc"
    step = "Charge at C/1000 until 4.3 V"  # 100 h at C/1000 moves theta by only 0.08
    result = invoke(runner, *simulate_args(out, "--material", "nmc811", shape="sphere:0.5um", protocol=step,
                                           diffusivity=None, theta0=None))
    assert_one_line_failure(result, out, f"'{step}'", "never reached")


def test_simulate_unreachable_cut_off_surface_empties_first(runner, tmp_path):
    out = tmp_path / "bad.nc"
    step = "Charge at C/3 until 9 V"
    result = invoke(runner, *simulate_args(out, "--material", "nmc811", shape="sphere:1um", protocol=step,
                                           diffusivity=None, theta0=None))
    assert_one_line_failure(result, out, f"'{step}'", "surface")


def test_simulate_voltage_cut_off_needs_an_ocv(runner, tmp_path):
    out = tmp_path / "bad.nc"
    step = "Charge at 1C until 4.2 V"
    result = invoke(runner, *simulate_args(out, protocol=step))
    assert_one_line_failure(result, out, f"'{step}'", "OCV")


def test_simulate_cut_off_already_passed(runner, tmp_path):
    out = tmp_path / "bad.nc"
    step = "Discharge at C/3 until 4.3 V"
    result = invoke(runner, *simulate_args(out, "--material", "nmc811", shape="sphere:0.5um", protocol=step,
                                           diffusivity=None, theta0=None))
    assert_one_line_failure(result, out, f"'{step}'", "already passed")


@pytest.mark.parametrize(
    "shape, needle",
    [("cube:1um", "'cube:1um'"), ("sphere:-1um", "radius=-1e-06"), ("sphere:1 kg", "'1 kg'"),
     ("ellipse:1um", "'ellipse:1um'")],
)
def test_simulate_bad_shape(runner, tmp_path, shape, needle):
    out = tmp_path / "bad.nc"
    assert_one_line_failure(invoke(runner, *simulate_args(out, shape=shape)), out, needle)


def test_simulate_needs_material_or_diffusivity(runner, tmp_path):
    out = tmp_path / "bad.nc"
    result = invoke(runner, *simulate_args(out, diffusivity=None))
    assert_one_line_failure(result, out, "diffusivity")


def test_simulate_output_folder_must_exist(runner, tmp_path):
    out = tmp_path / "no" / "such" / "dir" / "run.nc"
    assert_one_line_failure(invoke(runner, *simulate_args(out)), out, "does not exist")


def test_existing_output_is_kept_without_overwrite_and_replaced_with_it(runner, tmp_path):
    out = tmp_path / "run.nc"
    original = b"an earlier result that must survive\n"
    out.write_bytes(original)
    result = invoke(runner, *simulate_args(out))
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = lines(result)
    assert str(out) in line and "--overwrite" in line
    assert out.read_bytes() == original
    assert not list(tmp_path.glob("*.tmp"))

    result = invoke(runner, *simulate_args(out, "--overwrite"))
    assert_ok(result)
    assert out.read_bytes() != original
    ds = open_nc(out)
    assert ds.theta.dims == ("time", "r")


def test_failed_overwrite_keeps_the_old_file(runner, tmp_path):
    out = tmp_path / "run.nc"
    original = b"an earlier result\n"
    out.write_bytes(original)
    result = invoke(runner, *simulate_args(out, "--overwrite", diffusivity="0"))
    assert_one_line_failure(result, None, "diffusivity=")
    assert out.read_bytes() == original


def test_the_python_api_offers_every_function_the_cli_calls():
    import lithmap

    for name in lithmap.__all__:
        if not name.isupper():  # constants such as EXAMPLE_PIXEL_SIZE
            assert callable(getattr(lithmap, name)), name
    with pytest.raises(AttributeError):
        lithmap.no_such_function  # noqa: B018
