"""Fit the scale factor α on D(θ) to an operando movie, with a 95 % profile-likelihood interval
(Xu, Merryweather et al., Joule 2022: best α ≈ 2.7 at C/3 for NMC811)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError
from .compare import MovieProblem

#: χ²(1) quantile at 95 %.
CHI2_95 = 3.841458820694124


def correlation_area(residual: np.ndarray, use: np.ndarray, *, max_lag: int = 8) -> float:
    """Pixels per independent datum of a residual field: the integrated spatial autocorrelation
    of the residual (time, y, x) over the pixels in ``use`` within ``max_lag`` pixels, the median
    over frames (at least 1).

    Neighbouring pixels of a blurred image (or of a model error smooth in space) are not
    independent; the sum of the normalised autocorrelation over all lags is the number of pixels
    that carry one independent value (4πσ² pixels for white noise blurred by a Gaussian of σ
    pixels; 1 for white noise).

    Parameters
    ----------
    residual : numpy.ndarray
        Residual field (time, y, x).
    use : numpy.ndarray of bool
        The pixel-frames that count (same shape).
    max_lag : int
        Largest lag (pixels) of the autocorrelation that is summed.

    Returns
    -------
    float
        Pixels per independent datum (≥ 1).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> white = rng.standard_normal((4, 64, 64))
    >>> round(correlation_area(white, np.ones(white.shape, bool)))
    1
    >>> from scipy import ndimage
    >>> blurred = ndimage.gaussian_filter(white, (0, 2, 2), mode="wrap")
    >>> 40 < correlation_area(blurred, np.ones(white.shape, bool)) < 60  # 4π·2² ≈ 50
    True
    """
    areas = []
    for r, u in zip(residual, use):
        if u.sum() < 4:
            continue
        z = np.where(u, r - r[u].mean(), 0.0)
        w = u.astype(float)
        shape = [2 * n for n in z.shape]
        fz = np.fft.rfft2(z, shape)
        fw = np.fft.rfft2(w, shape)
        num = np.fft.irfft2(fz * np.conj(fz), shape)  # Σ z_i z_{i+lag}
        cnt = np.fft.irfft2(fw * np.conj(fw), shape)  # pairs at each lag
        var = num[0, 0] / cnt[0, 0]
        if not var > 0:
            continue
        lag = np.minimum(np.arange(shape[0]), shape[0] - np.arange(shape[0]))[:, None], \
            np.minimum(np.arange(shape[1]), shape[1] - np.arange(shape[1]))[None, :]
        ok = (lag[0] <= max_lag) & (lag[1] <= max_lag) & (cnt > 0.5)  # a window: far lags only add noise
        rho = np.where(ok, num / np.maximum(cnt, 1) / var, 0.0)
        areas.append(float(np.sum(rho[ok])))
    return max(1.0, float(np.median(areas))) if areas else 1.0


def fit_alpha(result, *, material=None, diffusivity=None, rate=None, theta0=None, psf=None,
              bounds=(0.2, 20.0), n_scan: int = 9, rtol: float = 0.005, progress=None) -> xr.Dataset:
    """Fit the scale factor α on D(θ) so that the simulated particle matches a movie's θ maps.

    The misfit of :func:`lithmap.compare_movie` (mean squared θ difference over the particle's
    pixels and the frames after the reference) is scanned at ``n_scan`` α spaced evenly in log α
    over ``bounds``, then refined around the best scan point by a bounded Brent search on log α
    to a relative tolerance ``rtol``.

    The 95 % interval is the profile-likelihood one: with the residual variance
    s² = SSR_min / (N_eff − 1), α is inside while SSR(α) − SSR_min ≤ 3.84 · s² · A, found by
    ``brentq`` on each side. SSR sums over the N pixel-frames; A is the correlation area of the
    residual at the optimum (:func:`correlation_area`: pixels per independent datum; ~1 for
    camera shot noise, up to the PSF's 4πσ² for noise blurred with the image) and N_eff = N / A,
    so correlated neighbours are not counted as independent data.

    Parameters
    ----------
    result : xarray.Dataset or path
        A calibrated ``lithmap contrast`` result (see :func:`lithmap.compare_movie`).
    material, diffusivity, rate, theta0, psf
        As for :func:`lithmap.compare_movie`.
    bounds : (float, float)
        The α range searched.
    n_scan : int
        Points of the coarse log-spaced scan (at least 3).
    rtol : float
        Relative tolerance on α of the refinement.
    progress : callable, optional
        Called as ``progress(done, total)`` after each simulation; ``total`` is an estimate
        (scan + refinement + interval) that grows if more simulations are needed.

    Returns
    -------
    xarray.Dataset
        Scalars ``alpha``, ``alpha_low``, ``alpha_high`` (95 %), ``misfit`` at the optimum;
        ``misfit_curve`` on dim ``alpha_grid`` (every α evaluated); ``theta_simulated`` and
        ``theta_measured`` (time, y, x) at the optimum, and the other variables of
        :func:`lithmap.compare_movie`. attrs: ``n_data``, ``n_effective``, ``correlation_area``
        (pixels), ``evaluations``, ``interval_method``.

    Raises
    ------
    LithmapError
        The best α is at a bound of the scan, or the misfit does not change with α (one line
        with the best α found).

    Examples
    --------
    Maps made by the engine at α = 2.7 (three frames, a little noise) give α back:

    >>> import lithmap as lm, xarray as xr
    >>> sim = lm.simulate("example", "Charge at C/3 for 240 s", material="nmc811", alpha=2.7, times=[0, 120, 240])
    >>> noise = 0.01 * np.random.default_rng(0).standard_normal(sim.theta.shape)
    >>> maps = xr.Dataset({"theta": sim.theta + noise, "mask": sim.mask}, attrs={"reference_frame": 0})
    >>> fit = fit_alpha(maps, material="nmc811", rate="C/3", bounds=(1, 8), n_scan=3, rtol=0.05)
    >>> round(float(fit.alpha), 1), bool(fit.alpha_low < 2.7 < fit.alpha_high)
    (2.7, True)
    """
    from scipy import optimize

    lo, hi = (float(b) for b in bounds)
    if not (0 < lo < hi and np.isfinite(hi)):
        raise LithmapError(f"bounds={bounds!r} are invalid; expected 0 < low < high")
    if int(n_scan) < 3:
        raise LithmapError(f"n_scan={n_scan!r} is invalid; expected at least 3 scan points")
    problem = MovieProblem(result, material=material, diffusivity=diffusivity, rate=rate, theta0=theta0, psf=psf)
    cache: dict[float, tuple[float, np.ndarray | None]] = {}
    failures: list[str] = []

    expected = int(n_scan) + 20  # scan + Brent (~10) + two interval roots (~5 each)

    def ssr_log(u: float) -> float:
        u = float(u)
        if u not in cache:
            try:
                sim = problem.simulated(np.exp(u))
                cache[u] = (problem.ssr(sim), sim)
            except LithmapError as exc:  # e.g. the surface empties at a small α: that α cannot be
                failures.append(str(exc).splitlines()[0])
                cache[u] = (np.inf, None)
            if progress is not None:
                progress(len(cache), max(expected, len(cache)))
        return cache[u][0]

    grid = np.linspace(np.log(lo), np.log(hi), int(n_scan))
    scan = np.array([ssr_log(u) for u in grid])
    if not np.isfinite(scan).any():
        raise LithmapError(f"did not converge: no α in {bounds!r} simulates the whole movie ({failures[0]})")
    k = int(np.nanargmin(scan))
    best = float(np.exp(grid[k]))
    finite = scan[np.isfinite(scan)]
    if finite.max() - finite.min() <= 1e-6 * max(finite.min(), 1e-300):
        raise LithmapError(f"did not converge: the misfit is flat in α over {bounds!r} (best α = {best:.4g}); "
                           "the movie does not constrain α")
    if k in (0, grid.size - 1):
        raise LithmapError(f"did not converge: best α = {best:.4g} at the bound of [{lo:g}, {hi:g}]; "
                           "widen bounds (or check the rate, material and calibration)")
    opt = optimize.minimize_scalar(ssr_log, bounds=(grid[k - 1], grid[k + 1]), method="bounded",
                                   options={"xatol": float(np.log1p(rtol)) / 2})
    u_best = min(cache, key=lambda u: cache[u][0])
    ssr_min, sim_best = cache[u_best]
    alpha = float(np.exp(u_best))

    cmp = problem.dataset(alpha, sim_best)
    resid = sim_best - problem.measured
    area = correlation_area(resid, problem.use)
    n_eff = problem.n_data / area
    threshold = CHI2_95 * ssr_min / max(n_eff - 1.0, 1.0)

    def excess(u: float) -> float:
        return ssr_log(u) - ssr_min - threshold

    limits = []
    for side, end in ((-1, np.log(lo)), (1, np.log(hi))):
        outer = [u for u in grid if (u - u_best) * side > 0 and np.isfinite(cache[u][0]) and excess(u) > 0]
        if not outer:
            limits.append(float(np.exp(end)))  # the interval reaches the bound
            continue
        edge = min(outer, key=lambda u: abs(u - u_best))
        root = optimize.brentq(excess, min(u_best, edge), max(u_best, edge), xtol=1e-3)
        limits.append(float(np.exp(root)))
    alpha_low, alpha_high = limits

    us = np.array(sorted(cache))
    curve = np.array([cache[u][0] for u in us]) / problem.n_data
    fit = cmp.assign_coords(alpha_grid=("alpha_grid", np.exp(us), {"units": "1", "long_name": "alpha evaluated"}))
    fit["misfit_curve"] = (("alpha_grid",), curve, {"units": "1", "long_name": "misfit at each alpha evaluated"})
    fit["alpha"].attrs["long_name"] = "best-fit scale factor on D(theta)"
    fit["alpha_low"] = ((), alpha_low, {"units": "1", "long_name": "95 % profile-likelihood interval, low"})
    fit["alpha_high"] = ((), alpha_high, {"units": "1", "long_name": "95 % profile-likelihood interval, high"})
    fit.attrs.update({
        "title": "lithmap alpha fit",
        "n_effective": float(n_eff),
        "correlation_area": float(area),
        "evaluations": len(cache),
        "bounds": np.array([lo, hi]),
        "refinement": f"bounded Brent on log alpha ({'converged' if opt.success else opt.message})",
        "interval_method": "profile likelihood: SSR - SSR_min <= 3.84 SSR_min / (N_eff - 1), N_eff = N / "
                           "correlation_area (integrated spatial autocorrelation of the residual); an end at "
                           "a bound means the interval reaches it",
        "attr_units": "psf_fwhm in m; correlation_area in pixel; theta0 a fraction",
    })
    return fit
