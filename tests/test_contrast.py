"""Operando contrast: registration, masks and total contrast (issue 4's first slice)."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr
from scipy import ndimage
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.imaging import contrast_movie, particle_mask, register_stack

EXAMPLE = Path(lm.__file__).parent / "data" / "example_movie.tif"


def labelled(frames, times):
    """A movie DataArray (time, y, x) with frame times in s, as lithmap.read_movie returns."""
    t = ("time", np.asarray(times, float), {"units": "s"})
    return xr.DataArray(frames, dims=("time", "y", "x"), coords={"time": t})


def scene(n=64):
    y, x = np.mgrid[0:n, 0:n]
    blob = np.exp(-(((y - 30) / 9.0) ** 2 + ((x - 34) / 12.0) ** 2) ** 2)  # a flat-topped particle
    return 300 + 1700 * blob


def fourier_shift(img, shift):
    return np.real(np.fft.ifftn(ndimage.fourier_shift(np.fft.fftn(img), shift)))


def test_registration_recovers_known_subpixel_shifts():
    base = scene()
    shifts = np.array([[0, 0], [0.3, -0.7], [1.25, 0.5], [-0.6, 1.9], [2.4, -1.1]])
    stack = np.array([fourier_shift(base, s) for s in shifts])
    _, drift = register_stack(stack)
    assert np.abs(drift - shifts).max() <= 0.1


def test_example_movie_drift_and_contrast():
    movie = tifffile.imread(EXAMPLE)
    ds = contrast_movie(labelled(movie, np.arange(movie.shape[0]) * 120.0))
    k = np.arange(movie.shape[0])
    true = np.column_stack([1.5 * np.sin(k / 7.0), 2.0 * k / movie.shape[0]])  # examples/make_example_movie.py
    assert np.abs(ds.drift.values - true).max() <= 0.1  # despite the brightening particle and shot noise
    m = ds["mask"].values.astype(bool)
    from PIL import Image

    outline = int((np.asarray(Image.open(EXAMPLE.parent / "example_particle.png")) > 127).sum())
    assert abs(int(m.sum()) - outline) < 0.1 * outline  # the movie's particle is the example outline
    # delithiation brightens the particle: positive total contrast, rising whole-particle trace
    assert np.nanmean(ds.total_contrast.values[-1][m]) > 0.1
    # the ±1 % frame flicker is normalised out by the background: the trace rises at every frame
    assert np.all(np.diff(ds.intensity_normalised.values) > 0) and ds.intensity_normalised.values[-1] > 1.1
    # Xu, Merryweather et al. (Joule 2022), Figs. 2B, 3F:
    # the periphery brightens first (core-periphery index > 0) while the
    # centre lags (its contrast stays near zero for the first ~20 minutes)
    t = ds.time.values
    assert ds.heterogeneity.values[(t >= 600) & (t <= 2400)].min() > 0.05
    assert np.abs(ds.centre_contrast.values[t <= 1200]).max() < 0.02
    assert ds.centre_contrast.values[-1] > 0.05


def test_total_contrast_equals_a_direct_computation():
    rng = np.random.default_rng(1)
    stack = 500 + 100 * rng.random((4, 16, 16))
    stack[:, 4:12, 4:12] += 1500
    ds = contrast_movie(labelled(stack, [0, 10, 20, 30]), reference=1, register=False, flicker=False, dtype=np.float64)
    np.testing.assert_allclose(ds.total_contrast.values, stack / stack[1] - 1, rtol=0, atol=1e-14)
    # float32 maps
    single = contrast_movie(labelled(stack, [0, 10, 20, 30]), reference=1, register=False, flicker=False)
    assert single.total_contrast.dtype == np.float32
    np.testing.assert_allclose(single.total_contrast.values, stack / stack[1] - 1, rtol=0, atol=1e-6)
    m = particle_mask(stack[1])
    assert m[4:12, 4:12].all() and m.sum() == 64
    np.testing.assert_allclose(ds.intensity_normalised.values, stack[:, m].mean(axis=1) / stack[1, m].mean())


def test_contrast_bad_input():
    with pytest.raises(lm.LithmapError, match="single image"):
        contrast_movie(xr.DataArray(scene(), dims=("y", "x")))
    with pytest.raises(lm.LithmapError, match="reference"):
        contrast_movie(labelled(np.stack([scene()] * 3), [0, 1, 2]), reference=5)
    with pytest.raises(lm.LithmapError, match="increase"):
        contrast_movie(labelled(np.stack([scene()] * 3), [0, 2, 1]))
    nan = np.stack([scene()] * 3)
    nan[0, 30, 34] = np.nan
    with pytest.raises(lm.LithmapError, match="reference frame 0 has 1 NaN"):
        contrast_movie(labelled(nan, [0, 1, 2]), register=False)
    with pytest.raises(lm.LithmapError, match="mask is empty"):
        contrast_movie(labelled(np.stack([scene()] * 3), [0, 1, 2]), mask=np.zeros((64, 64), bool))


def test_contrast_cli(tmp_path):
    runner = CliRunner()
    out = tmp_path / "movie.nc"
    res = runner.invoke(app, ["contrast", "example", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.total_contrast.dims == ("time", "y", "x") and ds.intensity.dims == ("time", "y", "x")
        assert {"mask", "drift"} <= set(ds.data_vars) and ds.time.values[1] == 120.0
    single = tmp_path / "one.tif"
    tifffile.imwrite(single, scene().astype(np.uint16))
    bad = tmp_path / "bad.nc"
    res = runner.invoke(app, ["contrast", str(single), "--times", "10s", "--out", str(bad)])
    assert res.exit_code != 0 and not bad.exists() and "single image" in res.output
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.stack([scene()] * 3).astype(np.uint16), photometric="minisblack")
    res = runner.invoke(app, ["contrast", str(plain), "--out", str(bad)])
    assert res.exit_code != 0 and not bad.exists() and "--times" in res.output


def test_equal_area_rings_flicker_normalisation_and_the_axis_line():
    from lithmap.imaging.profiles import axis_line, line_sampler, sample_line
    from lithmap.imaging.regions import equal_area_rings

    y, x = np.mgrid[0:60, 0:60]
    m = np.hypot(y - 30, x - 30) < 20
    ring = equal_area_rings(m, 5)
    counts = np.bincount(ring[m])
    assert counts.max() - counts.min() <= 1  # equal areas
    r = np.hypot(y - 30, x - 30)
    assert r[ring == 0].mean() > r[ring == 2].mean() > r[ring == 4].mean()  # from the edge inward
    rng = np.random.default_rng(3)
    clean = np.where(m, 2000.0, 300.0)[None] * np.linspace(1, 1.5, 6)[:, None, None] ** m[None]
    flick = 1 + 0.02 * rng.standard_normal(6)
    flick[0] = 1.0
    ds = contrast_movie(labelled(clean * flick[:, None, None], np.arange(6.0)), register=False, mask=m,
                        dtype=np.float64)
    np.testing.assert_allclose(ds.flicker.values, flick, rtol=1e-12)  # a flat matrix: exact
    np.testing.assert_allclose(ds.intensity.values, clean, rtol=1e-12)
    start, end = axis_line(m)
    dist, pix, w = line_sampler(m.shape, start, end)
    vals = sample_line(r, pix, w)
    assert dist[0] == 0 and dist[-1] == pytest.approx(40, abs=0.5) and vals.min() < 1.5 and vals[0] > 18


def test_calibration_inverts_the_forward_law_of_the_example_movie():
    from lithmap.imaging.calibration import calibrate_theta, theta_from_charge

    movie = tifffile.imread(EXAMPLE)
    t = np.arange(movie.shape[0]) * 120.0
    ds = contrast_movie(labelled(movie, t))
    frac = lm.nmc811().capacity_fraction
    cal = calibrate_theta(ds, theta_from_charge(t, theta0=0.97, c_rate=1 / 3, capacity_fraction=frac))
    # the movie was made with I/I_ref - 1 = 0.62 (0.97 - θ) / 0.77, i.e. slope dθ/d(I/I_ref) = -0.77/0.62
    assert cal.attrs["calibration_slope"] == pytest.approx(-0.77 / 0.62, rel=0.05)
    assert cal.attrs["calibration_rms"] < 0.01
    assert cal.theta.dims == ("time", "y", "x")
    # the calibrated movie against the simulation it was made from (PSF blur mixes edge pixels)
    sim = lm.simulate(lm.from_mask(EXAMPLE.parent / "example_particle.png", 50e-9), "Charge at C/3 for 1 hour",
                      material="nmc811", times=t)
    assert np.nanmean(cal.theta.values[-1]) == pytest.approx(float(sim.theta_mean[-1]), abs=0.01)
    with pytest.raises(lm.LithmapError, match="frames"):
        calibrate_theta(ds, [0.9, 0.8])


def test_contrast_cli_with_calibration(tmp_path):
    out = tmp_path / "movie.nc"
    res = CliRunner().invoke(app, ["contrast", "example", "--rate", "C/3", "--material", "nmc811", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.theta.dims == ("time", "y", "x") and "calibration_slope" in ds.attrs


def test_segmentation_finds_every_particle_of_a_synthetic_field():
    from lithmap.imaging.regions import find_particles

    y, x = np.mgrid[0:120, 0:160]
    centres = [(20, 25, 8), (30, 90, 12), (80, 40, 10), (90, 130, 6), (60, 155, 9)]  # the last touches the edge
    field = np.full(y.shape, 300.0)
    for cy, cx, r in centres:
        field[np.hypot(y - cy, x - cx) < r] = 2000.0
    field = ndimage.gaussian_filter(field, 1.0) + np.random.default_rng(0).normal(0, 20, field.shape)
    labels, table = find_particles(field, pixel_size=50e-9)
    assert table.sizes["particle"] == len(centres)
    found = sorted(zip(table.centroid_y.values, table.centroid_x.values))
    for (cy, cx, r), (fy, fx) in zip(sorted((c[0], c[1], c[2]) for c in centres), found):
        assert abs(fy - cy) < 1.0 and (abs(fx - cx) < 1.0 or cx + r > 160)
    assert table.touches_edge.values.sum() == 1
    diam = dict(zip(np.round(table.centroid_y.values), table.equivalent_diameter.values))
    assert diam[30.0] == pytest.approx(2 * 12 * 50e-9, rel=0.1)
    _, inner = find_particles(field, exclude_edge=True)
    assert inner.sizes["particle"] == len(centres) - 1
    out = Path(pytest.importorskip("tempfile").mkdtemp()) / "p.csv"
    res = CliRunner().invoke(app, ["particles", "example", "--out", str(out)])
    assert res.exit_code == 0 and res.output.count("particle ") == 1 and "um" in res.output
    assert out.read_text().splitlines()[0].startswith("particle,pixel_count")


def test_movie_gif(tmp_path):
    from PIL import Image

    nc, gif = tmp_path / "m.nc", tmp_path / "m.gif"
    runner = CliRunner()
    assert runner.invoke(app, ["contrast", "example", "--out", str(nc)]).exit_code == 0
    res = runner.invoke(app, ["movie", str(nc), "--out", str(gif)])
    assert res.exit_code == 0, res.output
    with Image.open(gif) as im:
        assert im.n_frames == 31
    short = tmp_path / "short.gif"
    res = runner.invoke(app, ["movie", str(nc), "--out", str(short), "--max-frames", "10"])
    assert res.exit_code == 0, res.output
    with Image.open(short) as im:
        assert im.n_frames == 10
    bad = tmp_path / "m.avi"
    res = runner.invoke(app, ["movie", str(nc), "--out", str(bad)])
    assert res.exit_code != 0 and not bad.exists()
