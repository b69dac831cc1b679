"""Contrast pipeline in chunks: direct numpy checks, masked bad pixels, lazy (Dask) = in-memory,
line profiles, many particles, and the cycler-log synchronisation and calibration."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr

import lithmap as lm
from lithmap.imaging import contrast_movie
from lithmap.imaging.calibration import apply_calibration, calibrate_theta, synchronise, theta_from_log
from lithmap.imaging.regions import equal_area_rings

EXAMPLE = Path(lm.__file__).parent / "data" / "example_movie.tif"


def labelled(frames, times):
    """A movie DataArray (time, y, x) with frame times in s, as lithmap.read_movie returns."""
    t = ("time", np.asarray(times, float), {"units": "s"})
    return xr.DataArray(frames, dims=("time", "y", "x"), coords={"time": t})


def field(n_frames=7, seed=0):
    """Two bright particles on a flat matrix; the big one brightens from its edge inward;
    every frame multiplied by a lamp flicker factor."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:48, 0:56]
    r = np.hypot(y - 22, x - 20)
    big, small = r < 12, np.hypot(y - 38, x - 46) < 5
    frames = []
    for k in range(n_frames):
        front = 12 - 1.5 * k
        f = np.where(big, 1500.0 * (1 + 0.3 * (r > front)), 300.0) + np.where(small, 900.0 * (1 + 0.05 * k), 0)
        frames.append(f + rng.normal(0, 5, f.shape))
    flick = 1 + 0.03 * rng.standard_normal(n_frames)
    flick[0] = 1
    return np.array(frames) * flick[:, None, None], flick, big, small


def test_every_output_equals_a_direct_numpy_computation():
    from skimage.measure import profile_line

    stack, flick, big, _ = field()
    ds = contrast_movie(labelled(stack, np.arange(7) * 10.0), register=False, mask=big, dtype=np.float64, line="minor",
                        chunk_frames=3)
    # background: a noisy flat matrix → its median tracks the flicker to the noise of a median
    np.testing.assert_allclose(ds.flicker.values, flick, rtol=2e-3)
    inten = stack / ds.flicker.values[:, None, None]
    tc = inten / inten[0] - 1
    np.testing.assert_allclose(ds.intensity.values, inten, rtol=1e-12)
    np.testing.assert_allclose(ds.total_contrast.values, tc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ds.intensity_normalised.values, inten[:, big].mean(1) / inten[0, big].mean(), rtol=1e-12)
    ring = equal_area_rings(big, 5)
    rings = np.stack([tc[:, ring == k].mean(1) for k in range(5)], axis=1)
    np.testing.assert_allclose(ds.ring_contrast.values, rings, atol=1e-12)
    np.testing.assert_allclose(ds.centre_contrast.values, rings[:, 4], atol=1e-12)
    np.testing.assert_allclose(ds.heterogeneity.values, rings[:, 0] - rings[:, 4], atol=1e-12)
    assert ds.heterogeneity.values[-1] > 0.05  # the edge brightened, the core not yet
    y0, x0, y1, x1 = ds.attrs["profile_line"]
    for k in (0, 3, 6):
        ref = profile_line(tc[k], (y0, x0), (y1, x1), order=1, mode="nearest")
        np.testing.assert_allclose(ds.kymograph.values[k], ref, atol=1e-12)
    assert np.hypot(y1 - y0, x1 - x0) == pytest.approx(24, abs=1)  # a 12-px-radius disc's minor axis


def test_a_given_line_and_an_unreadable_one():
    stack, _, big, _ = field(3)
    ds = contrast_movie(labelled(stack, [0, 1, 2]), register=False, mask=big, line=((22, 5), (22, 35)))
    assert ds.sizes["distance"] == 31 and ds.distance.values[-1] == 30
    with pytest.raises(lm.LithmapError, match="zero length"):
        contrast_movie(labelled(stack, [0, 1, 2]), register=False, mask=big, line=((3, 3), (3, 3)))
    with pytest.raises(lm.LithmapError, match="line='diagonal'"):
        contrast_movie(labelled(stack, [0, 1, 2]), register=False, mask=big, line="diagonal")


def test_saturated_and_nan_pixels_are_masked_and_counted():
    stack, _, big, _ = field(5)
    u16 = np.clip(stack, 0, 65535).astype(np.uint16)
    u16[2, 22, 20] = 65535  # saturated, inside the particle
    u16[3, 0:2, 0:3] = 65535  # saturated matrix pixels
    ds = contrast_movie(labelled(u16, np.arange(5.0)), register=False, mask=big, dtype=np.float64)
    np.testing.assert_array_equal(ds.bad_pixels.values, [0, 0, 1, 6, 0])
    assert np.isnan(ds.total_contrast.values[2, 22, 20]) and ds.attrs["bad_frames"] == 2
    inten = ds.intensity.values
    expected = np.nanmean(np.where(big, inten[2], np.nan)) / inten[0, big].mean()
    assert ds.intensity_normalised.values[2] == pytest.approx(expected, rel=1e-12)
    f = stack.copy()
    f[1, 5, 5] = np.nan
    ds = contrast_movie(labelled(f, np.arange(5.0)), register=False, mask=big)
    assert ds.bad_pixels.values.tolist() == [0, 1, 0, 0, 0] and np.isfinite(ds.intensity_normalised).all()


def test_lazy_dask_run_equals_the_in_memory_run_and_streams_to_disk(tmp_path):
    import dask.array as da

    movie = tifffile.imread(EXAMPLE)[:12]
    t = np.arange(12) * 120.0
    eager = contrast_movie(labelled(movie, t), chunk_frames=5)
    lazy = contrast_movie(labelled(da.from_array(movie, chunks=(4, -1, -1)), t), chunk_frames=5)
    assert isinstance(lazy.total_contrast.data, da.Array)
    for v in eager.data_vars:
        np.testing.assert_array_equal(np.asarray(lazy[v].values), eager[v].values, err_msg=v)
    from lithmap.io.results import read_result, write_result

    out = write_result(lazy, tmp_path / "lazy.nc")
    back = read_result(out)
    np.testing.assert_array_equal(back.total_contrast.values, eager.total_contrast.values)


def test_many_particles_get_labels_and_their_own_traces():
    stack, _, big, small = field(4)
    ds = contrast_movie(labelled(stack, np.arange(4.0)), register=False, particles=True, dtype=np.float64)
    lab = ds.particle.values
    assert set(np.unique(lab)) == {0, 1, 2}
    inten = ds.intensity.values
    for k in (1, 2):
        m = lab == k
        np.testing.assert_allclose(ds.particle_intensity_normalised.sel(particle_index=k).values,
                                   inten[:, m].mean(1) / inten[0, m].mean(), rtol=1e-12)
    small_k = lab[38, 46]
    # the small particle: (300 + 900 × 1.15) / (300 + 900) after three frames
    assert ds.particle_intensity_normalised.sel(particle_index=small_k).values[-1] == pytest.approx(1.1125, rel=0.005)


def _log(t_end, current_a, *, t0=0.0, v0=3.6):
    t = np.arange(t0, t_end, 5.0)
    return xr.Dataset({"time": ("record", t), "voltage": ("record", v0 + 1e-5 * t),
                       "current": ("record", np.full(t.size, current_a)),
                       "capacity": ("record", current_a * (t - t0) / 3.6)}, attrs={"source": "hand-made"})


def test_log_synchronisation_and_calibration_from_coulomb_counting():
    movie = tifffile.imread(EXAMPLE)
    t = np.arange(movie.shape[0]) * 120.0
    ds = contrast_movie(labelled(movie, t))
    frac = lm.nmc811().capacity_fraction
    q_full = 2.0  # mAh: C/3 of the practical capacity moves θ by frac/3 per hour
    current = q_full * 1e-3 * frac / 3  # A
    log = _log(t[-1] + 900, current, t0=-300.0)
    sync = synchronise(ds, log, offset=-100.0)  # the movie started 100 s before the log's zero... on the log's clock
    np.testing.assert_allclose(sync.voltage.values, 3.6 + 1e-5 * (t - 100.0), rtol=1e-12)
    np.testing.assert_allclose(sync.charge_passed.values, current * t / 3.6, rtol=1e-9)
    theta = theta_from_log(sync, theta0=0.97, capacity=q_full * 3.6)
    from lithmap.imaging.calibration import theta_from_charge

    np.testing.assert_allclose(theta, theta_from_charge(t, theta0=0.97, c_rate=1 / 3, capacity_fraction=frac),
                               atol=1e-12)
    cal = calibrate_theta(sync, theta)
    assert cal.attrs["calibration_slope"] == pytest.approx(-0.77 / 0.62, rel=0.05)  # the movie's forward law
    late = synchronise(ds, _log(t[-1] + 900, current, t0=2000.0), offset=0.0)  # log starts mid-movie
    assert late.attrs["frames_outside_log"] == int((t < 2000).sum()) and np.isnan(late.voltage.values[0])
    with pytest.raises(lm.LithmapError, match="does not overlap"):
        synchronise(ds, log, offset=1e6)
    with pytest.raises(lm.LithmapError, match="capacity"):
        theta_from_log(sync, theta0=0.97, capacity=0.0)


def test_a_user_calibration_table_inverts_its_forward_law():
    stack, _, big, _ = field(4)
    ds = contrast_movie(labelled(stack, np.arange(4.0)), register=False, mask=big, dtype=np.float64)
    # forward law: total contrast = 0.62 (0.97 - θ) / 0.77  → θ = 0.97 - 0.77/0.62 · contrast
    c = np.array([-0.02, 0.0, 0.6])
    out = apply_calibration(ds, c, 0.97 - 0.77 / 0.62 * c)
    tc = ds.total_contrast.values
    ok = big[None] & (tc >= -0.02) & (tc <= 0.6)
    np.testing.assert_allclose(out.theta.values[ok], (0.97 - 0.77 / 0.62 * tc)[ok], atol=1e-12)
    assert np.isnan(out.theta.values[:, ~big]).all()
    with pytest.raises(lm.LithmapError, match="strictly increase"):
        apply_calibration(ds, [0.1, 0.0], [0.9, 0.8])


def test_a_lazy_movie_writes_to_zarr_and_reads_back(tmp_path):
    import dask.array as da

    from lithmap.io.results import read_result, write_result

    stack, _, big, _ = field(6)
    eager = contrast_movie(labelled(stack, np.arange(6.0)), register=False, mask=big)
    lazy = contrast_movie(labelled(da.from_array(stack, chunks=(2, -1, -1)), np.arange(6.0)), register=False, mask=big)
    out = write_result(lazy, tmp_path / "movie.zarr")
    back = read_result(out)
    np.testing.assert_array_equal(back.total_contrast.values, eager.total_contrast.values)
    with pytest.raises(lm.LithmapError, match="already exists"):
        write_result(lazy, out)
    assert [p.name for p in tmp_path.iterdir()] == ["movie.zarr"]  # no temporary left behind


def _csv_log(path, t, current_a, v0=3.6):
    rows = ["Time [s],Voltage [V],Current [A]"] + [f"{a},{v0 + 1e-5 * a},{current_a}" for a in t]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_contrast_cli_with_a_log_mask_line_and_coulomb_counting(tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from lithmap.cli import app
    from lithmap.io.results import read_result

    runner = CliRunner()
    mass_g = 5.1e-3
    # C/3 of 210 mAh/g: 70 mA/g × 5.1 mg = 0.357 mA
    log = _csv_log(tmp_path / "log.csv", np.arange(-600.0, 4200.0, 10.0), 70e-3 * mass_g)
    mask = tmp_path / "mask.png"
    from lithmap.imaging import particle_mask

    Image.fromarray(particle_mask(tifffile.imread(EXAMPLE)[0]).astype(np.uint8) * 255).save(mask)
    out = tmp_path / "movie.nc"
    res = runner.invoke(app, ["contrast", "example", "--out", str(out), "--log", str(log), "--log-offset", "0s",
                              "--mass", "5.1mg", "--material", "nmc811", "--mask", str(mask), "--line", "minor"])
    assert res.exit_code == 0, res.output
    ds = read_result(out)
    assert {"voltage", "current", "charge_passed", "theta", "kymograph"} <= set(ds.data_vars)
    np.testing.assert_allclose(ds.current.values, 70e-3 * mass_g)
    # the movie was made with I/I_ref - 1 = 0.62 (0.97 - θ) / 0.77 (examples/make_example_movie.py)
    assert ds.attrs["calibration_slope"] == pytest.approx(-0.77 / 0.62, rel=0.05)
    assert int(ds["mask"].sum()) == int((np.asarray(Image.open(mask)) > 0).sum())
    gif = tmp_path / "with_voltage.gif"
    res = runner.invoke(app, ["movie", str(out), "--out", str(gif), "--max-frames", "5"])
    assert res.exit_code == 0 and gif.exists(), res.output
    # bad input: one line, non-zero exit, nothing written
    bad = tmp_path / "bad.nc"
    res = runner.invoke(app, ["contrast", "example", "--out", str(bad), "--log", str(log), "--log-offset", "1e6s"])
    assert res.exit_code != 0 and "does not overlap" in res.output and not bad.exists()
    times = tmp_path / "times.csv"
    times.write_text("time\n0\n10\n10\n" + "\n".join(str(20 + k) for k in range(27)) + "\n")
    res = runner.invoke(app, ["contrast", "example", "--out", str(bad), "--times-csv", str(times)])
    assert res.exit_code != 0 and "not increasing" in res.output and not bad.exists()
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((80, 80), np.uint8)).save(empty)
    res = runner.invoke(app, ["contrast", "example", "--out", str(bad), "--mask", str(empty)])
    assert res.exit_code != 0 and not bad.exists()
    res = runner.invoke(app, ["contrast", "example", "--out", str(bad), "--reference-time", "10h"])
    assert res.exit_code != 0 and "outside the movie" in res.output and not bad.exists()
    res = runner.invoke(app, ["contrast", "example", "--out", str(bad), "--reference", "500"])
    assert res.exit_code != 0 and "outside the movie" in res.output and not bad.exists()
    trunc = tmp_path / "cut.tif"
    trunc.write_bytes(EXAMPLE.read_bytes()[: EXAMPLE.stat().st_size // 2])
    res = runner.invoke(app, ["contrast", str(trunc), "--out", str(bad)])
    assert res.exit_code != 0 and "cut.tif" in res.output and not bad.exists()
    assert len(res.output.strip().splitlines()) == 1


def test_contrast_cli_streams_lazily_to_zarr(tmp_path):
    from typer.testing import CliRunner

    from lithmap.cli import app
    from lithmap.io.results import read_result

    runner = CliRunner()
    a, b = tmp_path / "mem.nc", tmp_path / "lazy.zarr"
    res = runner.invoke(app, ["contrast", "example", "--out", str(a), "--in-memory", "--reference-time", "250s"])
    assert res.exit_code == 0, res.output
    assert read_result(a).attrs["reference_frame"] == 2  # frames every 120 s: 240 s is the nearest
    res = runner.invoke(app, ["contrast", "example", "--out", str(b), "--lazy", "--reference", "2"])
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(read_result(a).total_contrast.values, read_result(b).total_contrast.values)


def test_results_get_ordinary_permissions_and_a_zarr_is_replaced_safely(tmp_path):
    import os
    import stat

    from lithmap.io.results import read_result, write_result

    ds = xr.Dataset({"a": ("x", np.arange(3.0))})
    nc = write_result(ds, tmp_path / "r.nc")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(nc.stat().st_mode) == 0o666 & ~umask
    z = write_result(ds, tmp_path / "r.zarr")
    write_result(ds + 1, z, overwrite=True)
    np.testing.assert_array_equal(read_result(z).a.values, [1.0, 2.0, 3.0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc", "r.zarr"]
    with pytest.raises(lm.LithmapError, match="exists as a folder"):
        write_result(ds, _dir(tmp_path / "d.nc"), overwrite=True)


def _dir(p):
    p.mkdir()
    return p


def test_registration_and_flicker_together_and_bad_pixels_on_the_lazy_path():
    import dask.array as da

    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:72, 0:72]
    from scipy import ndimage

    base = ndimage.gaussian_filter(300.0 + 1500.0 * (np.hypot(y - 36, x - 36) < 14), 1.5)  # a microscope's blur
    shifts = [(0, 0), (2, -1), (-1, 3), (3, 2), (1, -2)]
    flick = np.array([1.0, 1.02, 0.97, 1.01, 0.99])
    frames = np.array([np.roll(base, s, axis=(0, 1)) * f for s, f in zip(shifts, flick)])
    frames += rng.normal(0, 2, frames.shape)
    frames[3, 36, 36] = np.nan  # a NaN pixel inside the particle (after registration: near (33, 34))
    eager = contrast_movie(labelled(frames, np.arange(5.0)), dtype=np.float64)
    np.testing.assert_allclose(eager.drift.values, shifts, atol=0.1)
    np.testing.assert_allclose(eager.flicker.values, flick, rtol=2e-3)
    assert eager.bad_pixels.values[3] >= 1 and eager.bad_pixels.values[[0, 1, 2, 4]].tolist() == [0, 0, 0, 0]
    assert eager.bad_pixels.values[3] == int(np.isnan(eager.intensity.values[3]).sum())  # the count is what is masked
    # registered and flicker-normalised frames equal the first frame away from the particle's edge
    interior = np.hypot(y - 36, x - 36) < 10
    for k in (1, 2, 4):
        np.testing.assert_allclose(eager.intensity.values[k][interior], frames[0][interior], rtol=0.01)
    lazy = contrast_movie(labelled(da.from_array(frames, chunks=(2, -1, -1)), np.arange(5.0)), dtype=np.float64)
    for v in ("intensity", "total_contrast", "bad_pixels", "intensity_normalised", "ring_contrast", "drift"):
        np.testing.assert_array_equal(np.asarray(lazy[v].values), eager[v].values, err_msg=v)


def test_reference_outside_a_partly_overlapping_log_is_refused():
    movie = tifffile.imread(EXAMPLE)[:10]
    ds = contrast_movie(labelled(movie, np.arange(10) * 120.0), register=False)
    sync = synchronise(ds, _log(2000.0, 1e-4, t0=500.0), offset=0.0)  # the log starts at the movie's 500 s
    assert sync.attrs["frames_outside_log"] == 5
    with pytest.raises(lm.LithmapError, match="reference frame 0 .* outside the cycler log"):
        theta_from_log(sync, theta0=0.97, capacity=3.6)


def test_contrast_cli_reports_masked_pixels_and_calibrates_lazily(tmp_path):
    from typer.testing import CliRunner

    from lithmap.cli import app
    from lithmap.io.results import read_result

    runner = CliRunner()
    movie = tifffile.imread(EXAMPLE).copy()
    movie[5, 40, 40] = 65535  # saturated
    movie[6, 0:2, 0:2] = 65535
    src = tmp_path / "sat.tif"
    tifffile.imwrite(src, movie, metadata={"frame_interval_s": 120.0})
    mem, lazy = tmp_path / "mem.nc", tmp_path / "lazy.zarr"
    args = ["--rate", "C/3", "--material", "nmc811"]
    res = runner.invoke(app, ["contrast", str(src), "--out", str(mem), "--in-memory", *args])
    assert res.exit_code == 0, res.output
    a = read_result(mem)
    n_nan = int(np.isnan(a.intensity.values).sum())  # 5 bad pixels, spread by the sub-pixel drift correction
    assert n_nan >= 5 and f"masked {n_nan} NaN or saturated pixels in 2 frames" in res.output
    res = runner.invoke(app, ["contrast", str(src), "--out", str(lazy), "--lazy", *args])
    assert res.exit_code == 0, res.output
    b = read_result(lazy)
    np.testing.assert_array_equal(a.theta.values, b.theta.values)
    assert np.nanmean(a.theta.values[-1]) == pytest.approx(0.97 - lm.nmc811().capacity_fraction / 3, abs=0.01)
    bad = tmp_path / "bad.nc"
    notimage = tmp_path / "notes.tif"
    notimage.write_text("this is not a TIFF\n")
    for extra, message in ((["--mask", str(tmp_path / "m.png")], "is empty"), ([], None)):
        if extra:
            from PIL import Image

            Image.fromarray(np.zeros(movie.shape[1:], np.uint8)).save(tmp_path / "m.png")
            res = runner.invoke(app, ["contrast", str(src), "--out", str(bad), *extra])
        else:
            res = runner.invoke(app, ["contrast", str(notimage), "--out", str(bad), "--times", "1s"])
            message = "notes.tif"
        assert res.exit_code != 0 and message in res.output and not bad.exists(), res.output
        assert len(res.output.strip().splitlines()) == 1
    res = runner.invoke(app, ["contrast", str(src), "--out", str(bad), "--rate", "fast"])
    assert res.exit_code != 0 and "-C/3" in res.output
