"""Model meets movie (issue 10): compare_movie, fit_alpha, fit_diffusivity and `lithmap fit`.

The forward model is tested against exactly-made data first (a contrast result built from the
engine through a known optical law and PSF: the misfit at the truth is round-off), then the
fits end to end on synthetic movies with the example's optics (tests/test_inverse_recovery.py).
"""

import numpy as np
import pytest
import xarray as xr
from scipy import ndimage
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.errors import LithmapError

runner = CliRunner()
PIXEL = 50e-9
SIGMA = 177e-9 / 2.3548 / PIXEL


def exact_result(alpha=2.7, law=None, frames=5, pad=10, interval=120.0, noise=0.0, seed=0):
    """A contrast result made exactly as the forward model sees a movie: the engine's θ on the
    example outline, brightness B(θ) (``law``, default linear) on a 300-count matrix, blurred by a
    177 nm PSF; no drift; optional Poisson noise."""
    times = np.arange(frames) * interval
    sim = lm.simulate("example", f"Charge at C/3 for {times[-1]} s", material="nmc811", alpha=alpha, times=times)
    inside = np.pad(sim["mask"].values.astype(bool), pad)
    theta = np.pad(np.nan_to_num(sim["theta"].sel(time=times).values, nan=0.97), ((0, 0), (pad, pad), (pad, pad)),
                   constant_values=0.97)
    law = law or (lambda th: 2000.0 * (1 + 0.62 * (0.97 - th) / 0.77))
    bright = np.where(inside, law(theta), 300.0)
    intensity = ndimage.gaussian_filter(bright, (0, SIGMA, SIGMA), mode="nearest")
    if noise:
        intensity = np.random.default_rng(seed).poisson(intensity).astype(float)
    n = inside.shape[0]
    xy = {"units": "m"}
    return xr.Dataset(
        {"intensity": (("time", "y", "x"), intensity),
         "total_contrast": (("time", "y", "x"), intensity / intensity[0] - 1),
         "mask": (("y", "x"), inside.astype(np.int8))},
        coords={"time": ("time", times, {"units": "s"}), "y": ("y", np.arange(n) * PIXEL, xy),
                "x": ("x", np.arange(inside.shape[1]) * PIXEL, xy)},
        attrs={"reference_frame": 0, "theta0": 0.97, "c_rate": 1 / 3})


def test_law_basis_spans_monotone_laws_zero_at_theta0():
    knots = np.array([0.6, 0.7, 0.8, 0.97])
    theta = np.linspace(0.5, 1.0, 51)
    basis = lm.law_basis(theta, knots, 0.97)
    assert basis.shape == (51, 3)
    assert np.allclose(lm.law_basis(np.array([0.97]), knots, 0.97), 0.0)
    assert np.all(np.diff(basis, axis=0) >= 0)  # every piece rises with θ
    law = basis @ np.array([3.0, 0.5, 2.0])  # non-negative amplitudes: a monotone law
    assert np.all(np.diff(law) >= 0)


def test_forward_model_is_exact_on_exactly_made_data():
    ds = exact_result()
    at_truth = lm.compare_movie(ds, alpha=2.7, material="nmc811", psf="177nm", law_segments=1, outline="mask")
    signal = float(np.nanmean(ds.total_contrast[-1].values[ds.mask.values > 0] ** 2))
    # the same optical law, PSF and engine: what is left is the solver's tolerance (two meshes of the same
    # outline, numbered differently, take different steps: θ agrees to ~1e-4)
    assert float(at_truth.misfit) < 1e-5 * signal
    off = lm.compare_movie(ds, alpha=1.5, material="nmc811", psf="177nm", law_segments=1, outline="mask")
    assert float(off.misfit) > 100 * float(at_truth.misfit)
    # the fitted law is the one the data were made with: 2000 counts x 0.62 / 0.77 per unit of θ
    law = at_truth.optical_law * np.nanmean(ds.intensity[0].values[ds.mask.values > 0])
    slope = -np.polyfit(at_truth.law_theta.values, law.values, 1)[0]
    assert slope == pytest.approx(2000 * 0.62 / 0.77, rel=5e-3)  # θ agrees to the solver's tolerance
    assert at_truth.contrast_simulated.dims == ("time", "y", "x")
    np.testing.assert_allclose(at_truth.theta_measured.values[-1][ds.mask.values > 0].mean(),
                               np.nanmean(lm.simulate("example", "Charge at C/3 for 480 s", material="nmc811",
                                                      alpha=2.7, times=[480]).theta.values[-1]), atol=0.01)


def test_nonlinear_law_is_absorbed_by_the_monotone_law():
    def law(th):
        return 2000.0 * (1 + 0.9 * (np.clip(0.97 - th, 0, None) / 0.77) ** 0.6)  # concave: most brightening early

    ds = exact_result(law=law)
    linear = lm.compare_movie(ds, alpha=2.7, material="nmc811", psf="177nm", law_segments=1, outline="mask")
    pieces = lm.compare_movie(ds, alpha=2.7, material="nmc811", psf="177nm", law_segments=6, outline="mask")
    assert float(pieces.misfit) < 0.05 * float(linear.misfit)
    assert np.all(np.diff(pieces.optical_law.values) <= 1e-12)  # brighter as lithium leaves, monotone


def test_fit_alpha_recovers_alpha_on_exact_data_with_noise():
    # 20 minutes of C/3 with shot noise: α to ~10 %, and an interval that says so; (8 minutes
    # constrain α to no better than 1-4.4, and the interval says that too)
    fit = lm.fit_alpha(exact_result(noise=True, frames=11), material="nmc811", psf="177nm", bounds=(1, 8), n_scan=3)
    assert float(fit.alpha) == pytest.approx(2.7, rel=0.1)
    assert float(fit.alpha_low) < 2.7 < float(fit.alpha_high)
    assert float(fit.alpha_high) / float(fit.alpha_low) < 1.5
    assert fit.misfit_curve.dims == ("alpha_grid",)
    assert float(fit.misfit) == pytest.approx(float(fit.misfit_curve.min()))
    assert fit.attrs["protocol"].startswith("Charge at 0.3333C")  # from the result's own calibration rate


def test_refined_outline_recovers_the_drawn_particle():
    ds = exact_result()
    inside = ds.mask.values.astype(bool)
    i0 = ds.intensity.values[0]
    half = i0 > 0.5 * (np.median(i0[ndimage.binary_erosion(inside, iterations=4)]) + 300.0)
    assert (half ^ inside).sum() > 0  # the half-maximum threshold misses corners
    assert (lm.refine_outline(i0, half, SIGMA) ^ inside).sum() == 0


def test_theta_maps_comparison_with_the_results_calibration():
    ds = exact_result()
    theta = (1 - ds.intensity / 2000.0) * 0.77 / 0.62 + 0.97  # the law inverted, blur and all
    ds["theta"] = theta.where(ds.mask > 0)
    cmp = lm.compare_movie(ds, alpha=2.7, material="nmc811", psf="177nm", calibration="result", outline="mask")
    assert "contrast_simulated" not in cmp and cmp.attrs["calibration"] == "result"
    # θ maps from blurred images: the edge pixels mix in the matrix, which no blur inside the particle
    # reproduces; in contrast space (the default) the same data fit to the solver's tolerance
    fitted = lm.compare_movie(ds, alpha=2.7, material="nmc811", psf="177nm", law_segments=1, outline="mask")
    assert float(fitted.misfit) < 1e-3 * float(cmp.misfit)
    with pytest.raises(LithmapError, match="no calibrated theta"):
        lm.compare_movie(ds.drop_vars("theta"), alpha=2.7, material="nmc811", calibration="result")


@pytest.fixture(scope="module")
def short_movie(tmp_path_factory):
    """The first 6 frames (10 minutes) of the example's contrast result, as a file."""
    path = tmp_path_factory.mktemp("inverse") / "short.nc"
    lm.write_result(lm.analyse_movie("example", rate="C/3", material="nmc811").isel(time=slice(0, 6)), path)
    return path


@pytest.fixture(scope="module")
def short_alpha(short_movie):
    """fit_alpha on the short movie with the defaults (shared by the tests that need one)."""
    return lm.fit_alpha(short_movie, material="nmc811", psf="177nm")


def test_cli_equals_function(short_movie, short_alpha, tmp_path):
    out = tmp_path / "fit.nc"
    res = runner.invoke(app, ["fit", str(short_movie), "--material", "nmc811", "--psf", "177nm", "--no-figures",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "alpha =" in res.output
    got = lm.read_result(out)
    want = short_alpha
    for name in ("alpha", "alpha_low", "alpha_high", "misfit", "theta_simulated", "theta_measured", "misfit_curve",
                 "contrast_simulated"):
        np.testing.assert_allclose(got[name].values, want[name].values, rtol=1e-12, equal_nan=True)
    assert float(want.alpha_low) < float(want.alpha) < float(want.alpha_high)


def _fails(args, out):
    res = runner.invoke(app, args + ["--out", str(out)])
    assert res.exit_code != 0
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert not out.exists()
    return res.output


def test_cli_bad_input(short_movie, tmp_path):
    sim = tmp_path / "sim.nc"
    lm.write_result(lm.simulate("example", "Charge at 1C for 1 minute", diffusivity=1e-15, times="30s"), sim)
    out = tmp_path / "fit.nc"
    assert "not a 'lithmap contrast' result" in _fails(["fit", str(sim), "--material", "nmc811", "--rate", "C/3"], out)
    assert "does not exist" in _fails(["fit", str(tmp_path / "none.nc"), "--material", "nmc811", "--rate", "C/3"], out)
    common = [str(short_movie), "--material", "nmc811", "--psf", "177nm"]
    assert "--fit 'shape' is invalid" in _fails(["fit", *common, "--fit", "shape"], out)
    assert "psf" in _fails(["fit", *common[:-1], "wide"], out)
    assert "--log needs --mass" in _fails(["fit", *common, "--log", str(lm.example_file("test.ndax"))], out)
    assert "not" in _fails(["fit", *common, "--rate", "C/3", "--protocol", "Charge at C/3 for 1 hour"], out)
    assert "calibration" in _fails(["fit", *common, "--calibration", "magic"], out)


def test_mask_that_does_not_match_the_movie(short_movie):
    ds = lm.read_result(short_movie)
    bad = ds.drop_vars("mask").assign(mask=(("y2", "x2"), np.ones((5, 5), np.int8)))
    with pytest.raises(LithmapError, match="no particle mask on"):
        lm.compare_movie(bad, alpha=2.7, material="nmc811")
    elsewhere = ds.assign(mask=ds.mask.roll(x=35, roll_coords=False))  # over the matrix, not the particle
    with pytest.raises(LithmapError, match="does not match the movie"):
        lm.fit_alpha(elsewhere, material="nmc811", psf="177nm")


def test_log_that_does_not_overlap_the_movie(short_movie):
    t = np.arange(0.0, 400.0, 10.0)
    log = xr.Dataset({"time": ("record", t), "current": ("record", np.full(t.size, 1e-4))})
    with pytest.raises(LithmapError, match="overlap|cover"):
        lm.fit_alpha(short_movie, material="nmc811", log=log, log_offset="5000 s", mass="2mg")


def test_bound_hit_reports_best(short_movie):
    with pytest.raises(LithmapError, match=r"did not converge: best α = 8 at the bound"):
        lm.fit_alpha(short_movie, material="nmc811", psf="177nm", bounds=(8, 20), n_scan=3)


def movie_with_diffusivity(factors, knots=(0.85, 0.91, 0.97), frames=11):
    """Exactly-made data (10x the example's counts) from D(θ) = 2.7 × the preset × ``factors`` at ``knots``."""
    mat = lm.get_material("nmc811")
    knots = np.asarray(knots)
    true = 2.7 * mat.diffusivity(knots) * np.asarray(factors)
    truth = mat.replace(diffusivity=lm.TabulatedDiffusivity(knots, true), alpha=1.0)
    ds = exact_result(alpha=1.0, frames=frames)
    sim = lm.simulate("example", f"Charge at C/3 for {ds.time.values[-1]} s", material=truth, times=ds.time.values)
    theta = np.pad(np.nan_to_num(sim.theta.sel(time=ds.time.values).values, nan=0.97), ((0, 0), (10, 10), (10, 10)),
                   constant_values=0.97)
    inside = ds.mask.values.astype(bool)
    intensity = ndimage.gaussian_filter(np.where(inside, 2000.0 * (1 + 0.62 * (0.97 - theta) / 0.77), 300.0),
                                        (0, SIGMA, SIGMA), mode="nearest")
    ds["intensity"] = (("time", "y", "x"), np.random.default_rng(3).poisson(10 * intensity) / 10.0)
    ds["total_contrast"] = ds.intensity / ds.intensity[0] - 1
    return ds, knots, true


@pytest.fixture(scope="module")
def bump_fit():
    """One D(θ) fit shared by the two tests below: D made 3x the scaled preset in the middle of the
    range the particle passes and 4x at θ0 itself."""
    ds, knots, true = movie_with_diffusivity([1.0, 3.0, 4.0])
    start = lm.fit_alpha(ds, material="nmc811", psf="177nm", outline="mask", n_scan=3, rtol=0.05)  # sets the prior
    return ds, knots, true, lm.fit_diffusivity(ds, material="nmc811", psf="177nm", knots=knots, outline="mask",
                                               alpha_fit=start)


@pytest.mark.slow
def test_fit_diffusivity_moves_d_where_the_movie_says(bump_fit, tmp_path):
    """The fit raises D where the particle passes, its band covers the truth in the middle of the
    passage (θ = 0.91), and the CLI writes the same kind of result."""
    ds, knots, true, fit = bump_fit
    assert fit.diffusivity.dims == ("theta",) and fit.diffusivity.attrs["units"] == "m^2/s"
    passed = knots <= 0.95  # θ0 itself is weakly identified (see the xfail below); the issue asks 0.6-0.95
    middle = np.isclose(knots, 0.91)
    assert fit.diffusivity_low.values[middle] <= true[middle] <= fit.diffusivity_high.values[middle]
    np.testing.assert_allclose(np.log(fit.diffusivity.values[passed]), np.log(true[passed]), atol=np.log(1.5))
    assert fit.diffusivity.values[1] > 2 * fit.diffusivity_prior.values[1]  # moved, not left at the prior
    path = tmp_path / "in.nc"
    lm.write_result(ds.isel(time=slice(0, 6)), path)  # the command on the first 10 minutes, 2 knots
    out = tmp_path / "d.nc"
    res = runner.invoke(app, ["fit", str(path), "--material", "nmc811", "--psf", "177nm", "--fit", "diffusivity",
                              "--knots", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "D(theta)" in res.output and lm.read_result(out).diffusivity.sizes["theta"] == 2
    assert (tmp_path / "d_misfit.png").exists()  # D(theta) with its band beside the misfit curve


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 13: at the knot nearest the end of the passage (theta = 0.85) the "
                   "fit lands 12-29 % above the truth and its Laplace band (~ +-12 %) misses it: 3.28e-17 > 3.16e-17 "
                   "at the default tolerance; the old step-to-frame engine covered it by 1 % (3.12e-17) and tol 1e-4 "
                   "misses it by 16 % (3.66e-17). The estimate there moves by more than its band under solver-level "
                   "changes of the forward model (theta within 4e-4), so the band is too narrow at that knot")
def test_fit_diffusivity_band_covers_the_truth_at_the_end_of_the_passage(bump_fit):
    ds, knots, true, fit = bump_fit
    end = np.isclose(knots, 0.85)
    assert fit.diffusivity_low.values[end] <= true[end] <= fit.diffusivity_high.values[end]


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 10: D at theta0 itself (the knot where the particle starts) is poorly "
                   "identified by 20 minutes of C/3: a D 4x the prior there is fitted at ~0.5x, the objective being "
                   "flat and non-convex along it, and the local (Laplace) band does not cover the truth")
def test_fit_diffusivity_at_theta0(bump_fit):
    ds, knots, true, fit = bump_fit
    assert fit.diffusivity_low.values[-1] <= true[-1] <= fit.diffusivity_high.values[-1]


def test_kinetics_needs_a_voltage_hold(short_movie):
    with pytest.raises(LithmapError, match="voltage hold"):
        lm.fit_diffusivity(short_movie, material="nmc811", psf="177nm", kinetics=True)


def test_non_monotone_calibration_is_refused():
    ds = exact_result()
    theta = 0.97 - 1.24 * ds.total_contrast  # a linear calibration, then folded: rises, then falls
    folded = 0.95 - np.abs(theta - 0.95)
    ds["theta"] = folded.where(ds.mask > 0)
    with pytest.raises(LithmapError, match="not a monotone function"):
        lm.compare_movie(ds, alpha=2.7, material="nmc811", psf="177nm", calibration="result")


def test_fit_that_does_not_converge_says_so(short_movie, short_alpha):
    with pytest.raises(LithmapError, match="did not converge: D"):
        lm.fit_diffusivity(short_movie, material="nmc811", psf="177nm", n_knots=3, max_iterations=1,
                           alpha_fit=short_alpha)


def test_a_bare_psf_number_is_metres_and_refused_when_wider_than_the_frame(short_movie, tmp_path):
    out = tmp_path / "fit.nc"
    assert "give it with units" in _fails(["fit", str(short_movie), "--material", "nmc811", "--psf", "150"], out)
