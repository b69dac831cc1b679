"""Issue 10's recovery tests: synthetic movies made with the example's optics (PSF, drift,
flicker, shot noise; lithmap.synthetic_movie) from known physics, taken through the whole
pipeline a user runs (analyse_movie = `lithmap contrast`, then the fit with default options).

These are validation runs (each ~0.5-2 minutes on 2 cores), marked slow and kept in make test.
"""

import numpy as np
import pytest

import lithmap as lm

pytestmark = pytest.mark.slow


def contrast_of(movie, rate):
    return lm.analyse_movie(movie, rate=rate, material="nmc811")


def test_alpha_is_recovered_from_a_synthetic_movie():
    movie = lm.synthetic_movie("example", "Charge at C/3 for 1 hour", material="nmc811", alpha=2.7, seed=11)
    fit = lm.fit_alpha(contrast_of(movie, "C/3"), material="nmc811")  # PSF estimated from the edge
    assert float(fit.alpha) == pytest.approx(2.7, rel=0.05)
    assert float(fit.alpha_low) <= 2.7 <= float(fit.alpha_high)
    assert fit.attrs["psf_fwhm"] == pytest.approx(176.6e-9, rel=0.1)


def saturating(theta):
    """An optical law that is not linear: two thirds of the brightening in the first third of Δθ."""
    return 1 + 0.62 * (1 - np.exp(-3 * np.clip(0.97 - theta, 0, None) / 0.77)) / (1 - np.exp(-3))


def test_a_non_linear_optical_law_does_not_break_the_alpha_fit():
    movie = lm.synthetic_movie("example", "Charge at C/3 for 1 hour", material="nmc811", alpha=2.7, law=saturating,
                               seed=12)
    fit = lm.fit_alpha(contrast_of(movie, "C/3"), material="nmc811")
    assert float(fit.alpha) == pytest.approx(2.7, rel=0.05)
    assert float(fit.alpha_low) <= 2.7 <= float(fit.alpha_high)
    law_fitted = fit.optical_law.values
    assert np.all(np.diff(law_fitted) <= 1e-12)  # monotone: brighter as lithium leaves


@pytest.mark.parametrize("law", [None, saturating], ids=["linear law", "saturating law"])
def test_the_whole_diffusivity_is_recovered_from_a_synthetic_movie(law):
    """D(θ) made unlike any α × the preset (×3 in the middle of the range), 1C for 30 minutes so
    that the particle passes θ 0.6-0.95: the fit is within ×1.5 there and its (simultaneous) bands
    cover it, through a linear and through a saturating optical law. (With four law pieces, the
    old default, the saturating law pushed the fit out of its bands at 3 of 6 knots.)"""
    mat = lm.get_material("nmc811")
    knots = np.linspace(0.6, 0.97, 6)
    shape = np.interp(knots, [0.6, 0.78, 0.97], [1.0, 3.0, 1.0])
    true = 2.7 * mat.diffusivity(knots) * shape
    truth = mat.replace(diffusivity=lm.TabulatedDiffusivity(knots, true), alpha=1.0)
    movie = lm.synthetic_movie("example", "Charge at 1C for 30 minutes", material=truth,
                               times=np.arange(31) * 60.0, seed=13, **({"law": law} if law else {}))
    fit = lm.fit_diffusivity(contrast_of(movie, "1C"), material="nmc811", knots=knots)
    inside = (knots >= 0.6) & (knots <= 0.95)
    ratio = fit.diffusivity.values[inside] / true[inside]
    assert np.all((ratio > 1 / 1.5) & (ratio < 1.5)), ratio
    assert np.all(fit.diffusivity_low.values[inside] <= true[inside])
    assert np.all(fit.diffusivity_high.values[inside] >= true[inside])


def test_exchange_current_is_recovered_from_a_discharge_with_a_voltage_hold():
    """A 1C discharge to 3.7 V then a hold (the paper's end-of-discharge study, shortened), made
    with j0 one thirtieth of the preset's: the kinetics fit finds it within its band."""
    from lithmap.physics.materials import FunctionOfTheta

    mat = lm.get_material("nmc811")
    base, scale = mat.exchange_current, 1 / 30
    slow = mat.replace(exchange_current=FunctionOfTheta(lambda t: scale * base.evaluate(t)[0],
                                                        lambda t: scale * base.evaluate(t)[1], name="j0 / 30"))
    protocol = "Discharge at 1C until 3.7 V then Hold at 3.7 V for 20 minutes"
    movie = lm.synthetic_movie("example", protocol, material=slow, theta0=0.5, times=np.arange(14) * 90.0, seed=14)
    contrast = lm.analyse_movie(movie)  # no calibration needed: the optical law is fitted
    fit = lm.fit_diffusivity(contrast, material="nmc811", protocol=protocol, theta0=0.5, n_knots=3, kinetics=True)
    assert float(fit.exchange_current_scale_low) <= scale <= float(fit.exchange_current_scale_high)
    assert float(fit.exchange_current_scale_high) < 0.3  # the preset's j0 (scale 1) is excluded
