"""The α fit (issue 10, first slice): compare_movie, fit_alpha and `lithmap fit`."""

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

import lithmap as lm
from lithmap.cli import app
from lithmap.errors import LithmapError

runner = CliRunner()


@pytest.fixture(scope="module")
def movie():
    return lm.analyse_movie("example", rate="C/3", material="nmc811")


@pytest.fixture(scope="module")
def short_movie(movie, tmp_path_factory):
    """The first 8 frames (14 minutes) of the example's contrast result, as a file."""
    path = tmp_path_factory.mktemp("inverse") / "short.nc"
    lm.write_result(movie.isel(time=slice(0, 8)), path)
    return path


def synthetic(alpha=2.7, noise=0.01, seed=1):
    """A contrast-like result made from the engine at a known α: θ on the example outline,
    blurred by a 177 nm PSF inside the particle, plus white noise."""
    times = np.arange(6) * 120.0
    sim = lm.simulate("example", "Charge at C/3 for 600 s", material="nmc811", alpha=alpha, times=times)
    inside = sim["mask"].values.astype(bool)
    theta = lm.blur_inside(sim["theta"].values, inside, lm.psf_sigma("177nm", 50e-9))
    theta = theta + noise * np.random.default_rng(seed).standard_normal(theta.shape)
    return xr.Dataset({"theta": (("time", "y", "x"), np.where(inside, theta, np.nan)), "mask": sim["mask"]},
                      coords={"time": times, "y": sim.y, "x": sim.x}, attrs={"reference_frame": 0})


def test_compare_at_truth_is_the_noise():
    cmp = lm.compare_movie(synthetic(noise=0.01), alpha=2.7, material="nmc811", rate="C/3", psf="177nm")
    assert cmp.theta_simulated.dims == ("time", "y", "x")
    assert float(cmp.misfit) == pytest.approx(1e-4, rel=0.05)  # the white noise's variance
    off = lm.compare_movie(synthetic(noise=0.01), alpha=1.0, material="nmc811", rate="C/3", psf="177nm")
    assert float(off.misfit) > 1.1 * float(cmp.misfit)


def test_fit_recovers_alpha_on_synthetic_maps():
    fit = lm.fit_alpha(synthetic(), material="nmc811", rate="C/3", psf="177nm", bounds=(0.5, 10), n_scan=5)
    assert float(fit.alpha) == pytest.approx(2.7, rel=0.05)
    assert float(fit.alpha_low) < 2.7 < float(fit.alpha_high)
    assert float(fit.alpha_high) / float(fit.alpha_low) < 1.5
    assert fit.misfit_curve.dims == ("alpha_grid",)
    assert float(fit.misfit) == pytest.approx(float(fit.misfit_curve.min()))


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="the whole example movie gives alpha ~3.35 (with the PSF), not 2.7: the "
                   "contrast pipeline (registration, reference noise, calibration) biases it; see issue 10")
def test_fit_recovers_alpha_on_example_movie(movie):
    fit = lm.fit_alpha(movie, material="nmc811", rate="C/3", psf="177nm")
    assert float(fit.alpha) == pytest.approx(2.7, rel=0.05)
    assert float(fit.alpha_low) <= 2.7 <= float(fit.alpha_high)


def test_cli_equals_function(short_movie, tmp_path):
    out = tmp_path / "fit.nc"
    res = runner.invoke(app, ["fit", str(short_movie), "--material", "nmc811", "--rate", "C/3", "--psf", "177nm",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "alpha =" in res.output
    got = lm.read_result(out)
    want = lm.fit_alpha(short_movie, material="nmc811", rate="C/3", psf="177nm")
    for name in ("alpha", "alpha_low", "alpha_high", "misfit", "theta_simulated", "theta_measured", "misfit_curve"):
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
    common = [str(short_movie), "--material", "nmc811", "--rate", "C/3"]
    assert "not available yet" in _fails(["fit", *common, "--fit", "diffusivity"], out)
    assert "not available yet" in _fails(["fit", *common, "--fit", "kinetics"], out)
    assert "psf" in _fails(["fit", *common, "--psf", "wide"], out)
    assert "--rate" in _fails(["fit", str(short_movie), "--material", "nmc811"], out)


def test_uncalibrated_result_is_refused(movie):
    with pytest.raises(LithmapError, match="no calibrated theta"):
        lm.compare_movie(movie.drop_vars("theta"), alpha=2.7, material="nmc811", rate="C/3")


def test_bound_hit_reports_best(short_movie):
    with pytest.raises(LithmapError, match=r"did not converge: best α = 8 at the bound"):
        lm.fit_alpha(short_movie, material="nmc811", rate="C/3", psf="177nm", bounds=(8, 20), n_scan=3)
