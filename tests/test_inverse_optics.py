"""The point-spread function from the particle edge (lithmap.inverse.optics.estimate_psf):
recovered on synthetic discs of known blur with shot noise, on the shipped example movie (made
with sigma = 1.5 px = FWHM 177 nm), and refused on bad input."""

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage

import lithmap as lm
from lithmap.inverse.optics import FWHM_PER_SIGMA, estimate_psf

PX = 50e-9


def contrast_like(frame, mask=None, px=PX):
    """A one-frame contrast-like result around an image (mask: above the mean of its extremes)."""
    frame = np.asarray(frame, dtype=np.float32)
    if mask is None:
        lab, _ = ndimage.label(frame > 0.5 * (frame.max() + np.median(frame)))
        centre = tuple(s // 2 for s in frame.shape)
        mask = lab == lab[centre]
    x = np.arange(frame.shape[1]) * px
    y = np.arange(frame.shape[0]) * px
    return xr.Dataset({"intensity": (("time", "y", "x"), frame[None]), "mask": (("y", "x"), mask.astype(np.int8))},
                      coords={"time": [0.0], "y": ("y", y, {"units": "m"}), "x": ("x", x, {"units": "m"})},
                      attrs={"reference_frame": 0})


def disc_frame(sigma, *, n=90, radius=20.0, sub=8, particle=2000.0, matrix=300.0, seed=0, extra=()):
    """A disc whose edge crosses the pixels (area fractions from a sub-times finer grid; sub=1: a
    disc drawn on the pixel grid), blurred by a Gaussian of sigma px, with Poisson shot noise."""
    c = (n - 1) / 2 + 0.3
    f = (np.arange(n * sub) + 0.5) / sub - 0.5
    yy, xx = np.meshgrid(f, f, indexing="ij")
    fine = ((yy - c) ** 2 + (xx - c) ** 2 <= radius**2).astype(float)
    for oy, ox, r, level in extra:  # other particles
        fine = np.maximum(fine, level * ((yy - oy) ** 2 + (xx - ox) ** 2 <= r**2))
    chi = fine.reshape(n, sub, n, sub).mean(axis=(1, 3))
    ideal = matrix + (particle - matrix) * ndimage.gaussian_filter(chi, sigma)
    return np.random.default_rng(seed).poisson(ideal).astype(float)


@pytest.mark.parametrize("sigma", [0.7, 1.5, 3.0])
@pytest.mark.parametrize("sub", [1, 8])
def test_recovers_the_blur_of_a_disc_with_shot_noise(sigma, sub):
    psf = estimate_psf(contrast_like(disc_frame(sigma, sub=sub, seed=int(10 * sigma) + sub)))
    assert float(psf.sigma) == pytest.approx(sigma, rel=0.05)
    assert float(psf.fwhm) == pytest.approx(sigma * FWHM_PER_SIGMA * PX, rel=0.05)
    assert bool(psf.resolved)
    assert float(psf.fwhm_low) < float(psf.fwhm) < float(psf.fwhm_high)
    # the levels, and a residual at the shot-noise level (Poisson: variance = mean counts)
    assert float(psf.particle_level) == pytest.approx(2000, rel=0.02)
    assert float(psf.matrix_level) == pytest.approx(300, rel=0.05)
    assert float(psf.rms) < 1.2 * np.sqrt(2000)
    assert psf.fwhm.attrs["units"] == "m" and psf.sigma.attrs["units"] == "pixel"


def test_interval_covers_the_truth_over_noise_realisations():
    sigma, hits = 1.5, 0
    for seed in range(8):
        psf = estimate_psf(contrast_like(disc_frame(sigma, sub=8, seed=100 + seed)))
        lo, hi = float(psf.fwhm_low), float(psf.fwhm_high)
        hits += lo <= sigma * FWHM_PER_SIGMA * PX <= hi
    assert hits >= 5  # a 95 % interval; model error (the outline) is not in it


def test_example_movie_psf_is_the_one_it_was_made_with():
    """examples/make_example_movie.py blurs with sigma = 1.5 px at 50 nm pixels: FWHM 177 nm."""
    movie = lm.analyse_movie("example", rate="C/3", material="nmc811")
    psf = estimate_psf(movie)
    assert float(psf.fwhm) == pytest.approx(1.5 * FWHM_PER_SIGMA * 50e-9, rel=0.05)
    assert psf.attrs["frame"] == 0 and psf.attrs["pixel_size"] == pytest.approx(50e-9)
    assert psf.outline.dims == ("y", "x") and psf.edge_pixels.sum() > 500
    # a later frame (registered by interpolation, θ no longer uniform) is rougher but close
    late = estimate_psf(movie, frame=15)
    assert float(late.sigma) == pytest.approx(1.5, rel=0.1)


def test_other_particles_are_left_out():
    frame = disc_frame(1.5, n=110, extra=[(90, 90, 8, 1.0), (15, 90, 5, 0.6), (95, 20, 6, 1.4)])
    psf = estimate_psf(contrast_like(frame))
    assert float(psf.sigma) == pytest.approx(1.5, rel=0.05)
    used = psf.edge_pixels.values.astype(bool)
    assert not used[90, 90 - 10:90 + 10].any()  # nothing fitted near the neighbour at (90, 90)


def test_a_psf_below_the_pixel_is_reported_unresolved():
    psf = estimate_psf(contrast_like(disc_frame(0.05, sub=1, seed=3)))
    assert not bool(psf.resolved)
    assert "unresolved" in psf.attrs["note"]
    assert float(psf.fwhm_high) < 0.5 * FWHM_PER_SIGMA * PX  # the upper limit: below half a pixel's sigma
    assert float(psf.fwhm_low) == pytest.approx(0.25 * FWHM_PER_SIGMA * PX)


def test_the_misfit_curve_has_its_minimum_at_the_estimate():
    psf = estimate_psf(contrast_like(disc_frame(2.0, seed=5)))
    curve = psf.edge_misfit
    best = float(curve.trial_sigma[int(np.argmin(curve.values))])
    assert best == pytest.approx(float(psf.sigma), rel=0.15)
    assert curve.trial_sigma.attrs["units"] == "pixel"


def test_bad_input_is_one_clear_line():
    good = contrast_like(disc_frame(1.5))
    with pytest.raises(lm.LithmapError, match="not a 'lithmap contrast' result: it has no intensity"):
        estimate_psf(good.drop_vars("intensity"))
    with pytest.raises(lm.LithmapError, match="not a 'lithmap contrast' result: it has no mask"):
        estimate_psf(good.drop_vars("mask"))
    with pytest.raises(lm.LithmapError, match="takes a 'lithmap contrast' result"):
        estimate_psf(good.intensity)
    with pytest.raises(lm.LithmapError, match="mask is empty"):
        estimate_psf(good.assign(mask=good.mask * 0))
    with pytest.raises(lm.LithmapError, match="frame=5 is invalid"):
        estimate_psf(good, frame=5)
    with pytest.raises(lm.LithmapError, match="max_fwhm='10nm' is invalid"):
        estimate_psf(good, max_fwhm="10nm")
    with pytest.raises(lm.LithmapError, match="blurrier than max_fwhm"):
        estimate_psf(good, max_fwhm="80nm")
    dark = contrast_like(2300.0 - disc_frame(1.5), mask=good.mask.values.astype(bool))
    with pytest.raises(lm.LithmapError, match="not brighter than the matrix"):
        estimate_psf(dark)
    nopix = good.assign_coords(x=np.arange(good.sizes["x"]), y=np.arange(good.sizes["y"]))
    with pytest.raises(lm.LithmapError, match="no pixel size"):
        estimate_psf(nopix)
    # every message is one line
    try:
        estimate_psf(good, max_fwhm="80nm")
    except lm.LithmapError as exc:
        assert "\n" not in str(exc)
