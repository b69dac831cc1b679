"""The particle model next to the movie (Xu, Merryweather et al., Joule 2022: the GITT D(θ) scaled
by α until the simulated delithiation of the real particle matches the movie).

The forward model runs in the space the camera measures, total contrast I_t/I_0 − 1:

1. the engine simulates θ(t) on exactly the particle pixels of the contrast result's ``mask``,
   uniform at ``theta0`` at the reference frame (time zero), through the movie's protocol;
2. an optical law turns θ into a change of the particle's brightness, ΔB(θ) = B(θ) − B(θ0): a
   monotone piecewise-linear curve over θ (``law_segments`` pieces, ΔB(θ0) = 0), fitted jointly
   with the physics by non-negative least squares (its amplitudes are linear, so for each
   physical parameter the best law is exact and cheap — variable projection);
3. the microscope blurs the particle: ΔI = G_σ * (ΔB(θ) · χ), with G_σ the Gaussian
   point-spread function and χ the mask; the dark matrix around the particle does not change,
   so it cancels in ΔI;
4. the simulated total contrast is ΔI / I_0 with I_0 the *measured* reference frame, compared
   with the measured total contrast over the particle's pixels and the frames after the
   reference, each pixel weighted by I_0 (shot noise: var(I_t/I_0) ∝ 1/I_0).

Comparing θ maps instead (``calibration="result"``: the contrast result's own calibrated θ, the
simulated θ blurred inside the particle) is biased near the edge: the PSF mixes the dark matrix
into the edge pixels of the measured maps, which no blur inside the particle reproduces.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from .. import __version__
from ..errors import LithmapError
from ..io.images import pixel_size_of

#: FWHM of a Gaussian over its σ: 2·sqrt(2·ln 2).
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))

#: Pieces of the monotone optical law. Eight, not four: with four, a saturating law (two thirds of
#: the brightening in the first third of Δθ) left a systematic misfit that pushed D(θ) off its
#: bands at 3 of 6 knots; with eight every band covered it, and α on the example moved by 0.2 %
#: (tests/test_inverse_recovery.py, README).
LAW_SEGMENTS = 8
#: Ways to relate θ to what the camera sees.
CALIBRATIONS = ("fit", "result")
#: Outlines to simulate: the contrast result's mask refined against its reference frame, or as it is.
OUTLINES = ("refine", "mask")


def _contrast_result(result, calibration: str) -> xr.Dataset:
    """The contrast result as a Dataset (read from a path), checked to hold what ``calibration`` needs."""
    from ..io.results import read_result

    name = "result"
    if not isinstance(result, xr.Dataset):
        name = f"{str(result)!r}"
        result = read_result(result)
    if "total_contrast" not in result and "reference_frame" not in result.attrs:
        raise LithmapError(f"{name} is not a 'lithmap contrast' result: it has no total_contrast maps and no "
                           "reference frame")
    if "mask" not in result or result["mask"].dims != ("y", "x"):
        raise LithmapError(f"{name} is not a 'lithmap contrast' result: it has no particle mask on (y, x)")
    if calibration == "fit":
        for var in ("total_contrast", "intensity"):
            if var not in result or result[var].dims != ("time", "y", "x"):
                raise LithmapError(f"{name} has no {var} on (time, y, x), which the fitted calibration needs; "
                                   "use calibration='result' (--calibration result) to compare its theta maps")
    elif "theta" not in result or result["theta"].dims != ("time", "y", "x"):
        raise LithmapError(f"{name} has no calibrated theta on (time, y, x); run 'lithmap contrast' with --rate "
                           "(or --log and --mass), or fit the calibration (calibration='fit')")
    if "time" not in result.coords or result.sizes["time"] < 2:
        raise LithmapError(f"{name} needs at least two frames with times to compare with a simulation")
    for var in ("total_contrast", "theta", "intensity"):
        if var in result and result[var].shape[1:] != result["mask"].shape:
            raise LithmapError(f"{name}: the mask {result['mask'].shape} does not match the movie's frames "
                               f"{result[var].shape[1:]}")
    return result


def _check_mask_matches(reference: np.ndarray, inside: np.ndarray):
    """Refuse a mask that does not sit on the particle of the reference frame: the particle must
    stand out from the ring of matrix around the mask by much more than the pixel noise."""
    from scipy import ndimage

    ring = ndimage.binary_dilation(inside, iterations=8) & ~ndimage.binary_dilation(inside, iterations=4)
    core = ndimage.binary_erosion(inside, iterations=2)
    core = core if core.any() else inside
    a, b = reference[core & np.isfinite(reference)], reference[ring & np.isfinite(reference)]
    if a.size < 3 or b.size < 3:
        return
    noise = 1.4826 * np.median(np.abs(np.concatenate([a - np.median(a), b - np.median(b)])))
    if abs(np.median(a) - np.median(b)) < 3 * max(noise, 1e-12):
        raise LithmapError(f"the mask does not match the movie: the reference frame is {np.median(a):.4g} inside it "
                           f"and {np.median(b):.4g} around it (pixel noise {noise:.3g}); give the contrast result's "
                           "own mask")


def _check_monotone(contrast: np.ndarray, theta: np.ndarray, bins: int = 12):
    """Refuse θ maps that are not a monotone function of the total contrast they came from (a
    calibration must map contrast to θ one to one): the median θ in contrast quantile bins must
    rise or fall throughout, to within the spread of θ in the bins."""
    c, t = contrast.ravel(), theta.ravel()
    ok = np.isfinite(c) & np.isfinite(t)
    c, t = c[ok], t[ok]
    if c.size < 10 * bins or np.ptp(c) == 0:
        return
    edges = np.quantile(c, np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges, c, side="right") - 1, 0, bins - 1)
    med = np.array([np.median(t[idx == k]) if np.any(idx == k) else np.nan for k in range(bins)])
    med = med[np.isfinite(med)]
    spread = float(np.median([np.subtract(*np.percentile(t[idx == k], [75, 25])) for k in range(bins)
                              if np.sum(idx == k) > 3] or [0.0]))
    steps = np.diff(med)
    if np.any(steps > spread + 1e-12) and np.any(steps < -spread - 1e-12):
        raise LithmapError("the contrast result's theta is not a monotone function of its total contrast (the "
                           f"median theta per contrast bin goes {np.round(med, 3).tolist()}): check its calibration")


def psf_sigma(psf, pixel_size) -> tuple[float, float] | None:
    """The Gaussian σ in pixels (y, x) of a point-spread function given by its FWHM.

    Parameters
    ----------
    psf : float, str or None
        Full width at half maximum in m, or a quantity such as ``"150nm"``; None or 0: no blur.
    pixel_size : float or (float, float)
        Pixel size in m (one value, or (y, x)).

    Returns
    -------
    (float, float) or None
        σ = FWHM / 2.3548 in pixels along y and x, or None for no blur.

    Examples
    --------
    >>> [round(s, 3) for s in psf_sigma("177nm", 50e-9)]
    [1.503, 1.503]
    >>> psf_sigma(None, 50e-9) is None
    True
    """
    from ..io.units import parse_quantity

    if psf is None:
        return None
    fwhm = parse_quantity(psf, "m", name="psf")
    if not fwhm >= 0:
        raise LithmapError(f"psf={psf!r} is invalid; expected a non-negative FWHM such as '150nm'")
    if fwhm == 0:
        return None
    py, px = np.broadcast_to(np.asarray(pixel_size, dtype=float), (2,))
    return float(fwhm / FWHM_PER_SIGMA / py), float(fwhm / FWHM_PER_SIGMA / px)


def blur_inside(theta: np.ndarray, inside: np.ndarray, sigma) -> np.ndarray:
    """θ maps blurred by a Gaussian inside the particle only, normalised by the blurred mask (so
    the edge is not darkened by the empty outside); NaN outside the particle.

    Parameters
    ----------
    theta : array (..., y, x)
        θ maps (values outside ``inside`` are ignored).
    inside : bool array (y, x)
        The particle's pixels.
    sigma : (float, float) or None
        Gaussian σ in pixels (y, x); None: no blur.

    Returns
    -------
    numpy.ndarray
        The blurred maps, same shape, NaN outside.

    Examples
    --------
    >>> inside = np.zeros((9, 9), bool); inside[2:7, 2:7] = True
    >>> flat = np.where(inside, 0.8, np.nan)
    >>> out = blur_inside(flat, inside, (1.5, 1.5))
    >>> bool(np.allclose(out[inside], 0.8)), bool(np.isnan(out[0, 0]))  # a uniform particle stays uniform
    (True, True)
    """
    from scipy import ndimage

    inside = np.asarray(inside, dtype=bool)
    theta = np.asarray(theta, dtype=float)
    filled = np.where(inside, np.nan_to_num(theta), 0.0)
    if sigma is not None:
        full = (0.0,) * (theta.ndim - 2) + tuple(sigma)
        weight = ndimage.gaussian_filter(inside.astype(float), sigma, mode="constant")
        filled = ndimage.gaussian_filter(filled, full, mode="constant") / np.where(inside, weight, 1.0)
    return np.where(inside, filled, np.nan)


def law_basis(theta: np.ndarray, knots: np.ndarray, theta0: float) -> np.ndarray:
    """Basis of the monotone piecewise-linear optical laws ΔB(θ) with ΔB(θ0) = 0.

    h_j(θ) = (clip(θ, k_j, k_j+1) − clip(θ0, k_j, k_j+1)) / (k_j+1 − k_j) rises with θ on segment
    j and is flat elsewhere; Σ c_j h_j with all c_j ≥ 0 (or all ≤ 0) is every monotone
    piecewise-linear law on the knots that is zero at θ0.

    Parameters
    ----------
    theta : array
        θ values (any shape).
    knots : array
        Increasing knots in θ (at least 2).
    theta0 : float
        θ of the reference frame, where every basis function is 0.

    Returns
    -------
    numpy.ndarray
        Shape ``theta.shape + (len(knots) - 1,)``.

    Examples
    --------
    >>> law_basis(np.array([0.7, 0.8, 0.97]), np.array([0.7, 0.8, 0.97]), 0.97).round(3).tolist()
    [[-1.0, -1.0], [0.0, -1.0], [0.0, 0.0]]
    """
    knots = np.asarray(knots, dtype=float)
    lo, hi = knots[:-1], knots[1:]
    t = np.asarray(theta, dtype=float)[..., None]
    return (np.clip(t, lo, hi) - np.clip(theta0, lo, hi)) / (hi - lo)


def _nnls_law(design: np.ndarray, target: np.ndarray):
    """The monotone law's amplitudes (all ≥ 0 or all ≤ 0, whichever fits better) and the SSR."""
    from scipy.optimize import nnls

    best = None
    for sign in (1.0, -1.0):
        c, norm = nnls(sign * design, target, maxiter=50 * design.shape[1])
        if best is None or norm < best[1]:
            best = (sign * c, norm)
    return best[0], float(best[1] ** 2)


class MovieProblem:
    """One contrast result set up for comparison with the engine: the particle outline meshed
    once, the protocol and output times from the movie, the measured total contrast (or θ)
    after the reference frame, the PSF and the optical law.

    :meth:`simulate_theta` runs the engine for one set of physical parameters,
    :meth:`forward` sees the simulated θ through the microscope (fitting the optical law), and
    :meth:`dataset` is the comparison of :func:`compare_movie`. Used by :func:`compare_movie`,
    :func:`lithmap.fit_alpha` and :func:`lithmap.fit_diffusivity`.

    Examples
    --------
    >>> import lithmap as lm
    >>> movie = lm.analyse_movie("example", rate="C/3", material="nmc811").isel(time=slice(0, 4))
    >>> problem = MovieProblem(movie, material="nmc811", psf="177nm")
    >>> seen = problem.forward(problem.simulate_theta(alpha=2.7))
    >>> problem.n_data == seen["residual"].size, len(seen["amplitudes"]) == len(seen["knots"]) - 1
    (True, True)
    """

    def __init__(self, result, *, material=None, diffusivity=None, rate=None, protocol=None, log=None,
                 log_offset=0.0, mass=None, theta0=None, psf="auto", calibration: str = "fit",
                 law_segments: int = LAW_SEGMENTS, edge_pixels: int = 1, outline: str = "refine", options=None):
        from .. import parse_shape
        from ..physics.simulate import resolve_material
        from ..physics.solver import SolverOptions

        if calibration not in CALIBRATIONS:
            raise LithmapError(f"calibration={calibration!r} is invalid; expected one of {list(CALIBRATIONS)}")
        if outline not in OUTLINES:
            raise LithmapError(f"outline={outline!r} is invalid; expected one of {list(OUTLINES)}")
        if int(law_segments) < 1:
            raise LithmapError(f"law_segments={law_segments!r} is invalid; expected at least 1")
        ds = _contrast_result(result, calibration)
        self.result, self.calibration, self.law_segments = ds, calibration, int(law_segments)
        self.source = str(result) if isinstance(result, (str, os.PathLike)) else str(ds.attrs.get("source", ""))
        self.material = resolve_material(material, diffusivity)
        self.diffusivity_name = diffusivity
        self.options = options or SolverOptions()
        ref = int(ds.attrs.get("reference_frame", 0))
        t = np.asarray(ds["time"].values, dtype=float)
        if not 0 <= ref < t.size - 1:
            raise LithmapError(f"the contrast result's reference frame {ref} leaves no later frame to compare")
        self.frames = np.arange(ref, t.size)
        self.times = t[self.frames]
        self.t_model = self.times - self.times[0]
        if np.any(np.diff(self.t_model) <= 0):
            raise LithmapError("the contrast result's frame times are not increasing")
        self.theta0 = self._theta0(ds, ref, theta0)
        self.steps, self.protocol = self._protocol(ds, rate=rate, protocol=protocol, log=log, log_offset=log_offset,
                                                   mass=mass)
        px = pixel_size_of(ds["mask"])
        if px is None:
            raise LithmapError("the contrast result's mask has no pixel size (x, y in m); give the movie's "
                               "--pixel-size to 'lithmap contrast'")
        self.pixel_size = (px, px)  # the geometry (parse_shape) refuses non-square pixels
        self.psf_source = "given" if psf is not None else "none"
        if isinstance(psf, str) and psf.strip().lower() == "auto":
            from .optics import estimate_psf

            estimate = estimate_psf(ds)
            psf = float(estimate["fwhm"]) if isinstance(estimate, xr.Dataset) else float(estimate)
            self.psf_source = "estimated from the particle edge in the reference frame"
        self.sigma = psf_sigma(psf, self.pixel_size)
        if self.sigma is not None and max(self.sigma) > min(ds["mask"].shape) / 4:
            raise LithmapError(f"psf={psf!r} is invalid: a FWHM of {max(self.sigma) * FWHM_PER_SIGMA:.3g} pixels, "
                               f"wider than a quarter of the {ds['mask'].shape[1]}x{ds['mask'].shape[0]}-pixel frame "
                               "(a bare number is in m); give it with units, e.g. '150nm'")
        mask = ds["mask"].astype(bool)
        self.outline = outline
        if outline == "refine" and self.sigma is not None and "intensity" in ds:
            from .outline import refine_outline

            mask = mask.copy(data=refine_outline(np.asarray(ds["intensity"].values[ref], dtype=float),
                                                 mask.values, self.sigma))
        self.shape = parse_shape(mask.astype(np.int8))
        self.inside = np.asarray(mask.values).astype(bool)
        self.mesh = self.shape.mesh()
        self.grid = self.shape.grid_operator(self.mesh)
        self.drift = self._drift(ds)
        from scipy import ndimage

        if calibration == "fit":
            intensity = np.asarray(ds["intensity"].values[self.frames], dtype=float)
            self.i0 = intensity[0]
            measured = np.asarray(ds["total_contrast"].values[self.frames], dtype=float)
            ok = self.inside & np.isfinite(self.i0) & (self.i0 > 0)
            if not ok.any():
                raise LithmapError("the contrast result's reference frame has no positive intensity in the particle")
            _check_mask_matches(self.i0, self.inside)
            # shot noise: var(I_t − I_0) ∝ I_0; the weights from a smoothed I_0, so that they do
            # not correlate with the reference frame's own noise (which is in every difference)
            smooth = ndimage.gaussian_filter(np.where(ok, self.i0, 0.0), 1.0) / np.maximum(
                ndimage.gaussian_filter(ok.astype(float), 1.0), 1e-12)
            level = float(np.mean(smooth[ok]))
            self.weight = np.where(ok, 1.0 / (np.maximum(smooth, 1e-12 * level) * level), 0.0)
            self.difference = intensity - self.i0  # I_t − I_0, counts
        else:
            self.i0 = None
            measured = np.asarray(ds["theta"].values[self.frames], dtype=float)
            ok = self.inside
            self.weight = ok.astype(float)
            if "total_contrast" in ds:
                _check_monotone(np.asarray(ds["total_contrast"].values[self.frames], dtype=float)[:, ok],
                                measured[:, ok])
        self.measured = np.where(ok, measured, np.nan)
        # the misfit's pixel-frames: particle pixels with a finite measurement, frames after the
        # reference, less the outermost `edge_pixels` of the outline (a half-maximum outline is
        # uncertain by about a pixel, and a misplaced edge pixel is the largest residual there is)
        if int(edge_pixels) < 0:
            raise LithmapError(f"edge_pixels={edge_pixels!r} is invalid; expected 0 or more")
        core = ndimage.binary_erosion(self.inside, iterations=int(edge_pixels)) if edge_pixels else self.inside
        if not core.any():
            raise LithmapError(f"the particle ({int(self.inside.sum())} pixels) has no pixels left once its outer "
                               f"{int(edge_pixels)} are left out (edge_pixels)")
        if calibration == "fit":
            # every frame, the reference included: each pixel's unknown brightness at θ0 (its
            # texture, and the reference frame's own noise, which is in every I_t − I_0) is a
            # nuisance offset profiled out of each pixel's time series (see :meth:`forward`)
            core &= np.all(np.isfinite(self.difference), axis=0)
            self.use = np.broadcast_to(core, self.measured.shape).copy()
            self.n_offsets = int(core.sum())
        else:
            self.use = np.isfinite(self.measured) & core
            self.use[0] = False
            self.n_offsets = 0
        self.n_data = int(self.use.sum())
        if self.n_data < 2:
            raise LithmapError("the contrast result has no finite data inside the mask after the reference frame")
        self._sqrt_w = np.sqrt(np.broadcast_to(self.weight, self.measured.shape)[self.use])
        if calibration == "fit":
            target = self.difference
            if self.drift is not None:
                # what registration alone does to the unchanged reference image (its interpolation
                # blurs the particle's edge): part of the measurement, not of the lithium
                static = self._registered(np.broadcast_to(np.nan_to_num(self.i0), self.measured.shape))
                target = target - (static - self.i0)
            self._target = self._per_pixel(target[self.use]) * self._sqrt_w
        else:
            self._target = self.measured[self.use] * self._sqrt_w

    def _per_pixel(self, values: np.ndarray) -> np.ndarray:
        """Values at the used pixel-frames (frame-major) less each pixel's mean over the frames:
        the free per-pixel offset, profiled out exactly (Frisch–Waugh–Lovell)."""
        if not self.n_offsets:
            return values
        v = values.reshape(-1, self.n_offsets)
        return (v - v.mean(axis=0)).ravel()

    # ------------------------------------------------------------------ set-up
    @staticmethod
    def _theta0(ds, ref, theta0) -> float:
        if theta0 is None:
            if "theta0" in ds.attrs:
                theta0 = float(ds.attrs["theta0"])
            elif "theta_mean_calibration" in ds and np.isfinite(ds["theta_mean_calibration"].values[ref]):
                theta0 = float(ds["theta_mean_calibration"].values[ref])
            else:
                theta0 = 0.97
        theta0 = float(theta0)
        if not 0 <= theta0 <= 1:
            raise LithmapError(f"theta0={theta0!r} is invalid; expected a lithium fraction in [0, 1]")
        return theta0

    def _protocol(self, ds, *, rate, protocol, log, log_offset, mass):
        """The steps the particle saw from the reference frame to the last frame, and their text:
        the measured current of a cycler log (given, or synchronised onto the result by
        ``lithmap contrast --log``), else a constant rate (given, or the one the result was
        calibrated with), else a protocol text."""
        from ..physics.protocol import parse_protocol
        from .protocol import movie_protocol

        given = [name for name, v in (("rate", rate), ("protocol", protocol), ("log", log)) if v is not None]
        if len(given) > 1:
            raise LithmapError(f"give one of rate, protocol or log, not {' and '.join(given)}")
        if protocol is not None:
            steps = parse_protocol(protocol)
            return steps, protocol if isinstance(protocol, str) else f"{len(steps)} steps"
        if log is not None or (not given and ("charge_passed" in ds or "current" in ds)):
            steps, _ = movie_protocol(ds, log=log, log_offset=log_offset, mass=mass, material=self.material)
            source = "the cycler log" if log is not None else "the log synchronised onto the contrast result"
            return steps, f"measured current from {source}: " + " then ".join(str(s.text) for s in steps[:4]) + (
                f" ... ({len(steps)} steps)" if len(steps) > 4 else "")
        if rate is None and "c_rate" in ds.attrs:
            rate = float(ds.attrs["c_rate"])  # the rate 'lithmap contrast' calibrated this movie with
        if rate is None:
            raise LithmapError("give the movie's protocol: rate='C/3' (--rate C/3), a protocol, or the cycler "
                               "log (--log with --mass)")
        steps, _ = movie_protocol(ds, rate=rate)
        if steps[0].kind == "rest":
            raise LithmapError(f"rate={rate!r} is invalid; expected a non-zero C-rate such as C/3")
        return steps, steps[0].text

    # ------------------------------------------------------------------ forward model
    def simulate_theta(self, alpha: float | None = None, material=None, options=None) -> np.ndarray:
        """The engine's θ (frame, y, x) at the movie's frames from the reference on (NaN outside).

        ``alpha`` scales D (default the material's own α); ``material`` replaces the problem's
        (e.g. another D(θ))."""
        from ..physics.engine import run_batch

        mat = self.material if material is None else material
        alpha = mat.alpha if alpha is None else float(alpha)
        if not (np.isfinite(alpha) and alpha > 0):
            raise LithmapError(f"alpha={alpha!r} is invalid; expected a positive scale factor on D")
        recs, _ = run_batch([self.mesh], mat, self.steps, alpha=alpha, theta0=self.theta0,
                            options=options or self.options, t_eval=self.t_model)
        rec = recs[0]
        if rec.termination != "protocol complete":  # pragma: no cover - run_batch raises on limits
            raise LithmapError(f"the simulation stopped early: {rec.termination}")
        ts = np.asarray(rec.time)
        idx = np.clip(np.searchsorted(ts, self.t_model - 1e-6), 0, ts.size - 1)
        if not np.allclose(ts[idx], self.t_model, atol=1e-6):  # pragma: no cover - run_batch keeps t_eval
            raise LithmapError("the simulation did not report the movie's frame times")
        fields = np.asarray(rec.theta)[idx]
        out = np.full((idx.size,) + self.inside.shape, np.nan)
        out[:, self.shape.inside] = (self.grid @ fields.T).T
        return out

    def law_knots(self, theta: np.ndarray) -> np.ndarray:
        """Knots of the optical law: at quantiles of the simulated θ over the misfit's
        pixel-frames (equal data per piece, so the law is finest where the particle spends its
        time, near θ0 early on), from the lowest θ to the highest, θ0 included."""
        vals = theta[self.use]
        vals = vals[np.isfinite(vals)]
        lo, hi = min(float(np.min(vals)), self.theta0), max(float(np.max(vals)), self.theta0)
        if hi - lo < 1e-9:
            raise LithmapError("the simulated theta does not change over the movie: nothing to compare")
        moved = vals[np.abs(vals - self.theta0) > 1e-6 * (hi - lo)]
        knots = np.quantile(moved, np.linspace(0, 1, self.law_segments + 1)) if moved.size else np.array([lo, hi])
        knots[0], knots[-1] = lo, hi
        knots = np.unique(np.concatenate([knots, [self.theta0]]))
        keep = np.concatenate([[True], np.diff(knots) > 1e-6 * (hi - lo)])
        return knots[keep]

    def _drift(self, ds):
        """The registration shifts (frame, 2) in pixels from the reference frame on, or None."""
        if "drift" not in ds or ds["drift"].dims != ("time", "axis"):
            return None
        d = np.asarray(ds["drift"].values, dtype=float)[self.frames]
        return d if np.any(np.abs(d) > 1e-6) else None

    def _registered(self, frames: np.ndarray) -> np.ndarray:
        """Frames as the contrast analysis sees them: moved by the measured drift (as the stage
        moved them) and shifted back by registration's linear interpolation
        (``lithmap.imaging.contrast``), whose blur is part of what is measured."""
        from scipy import ndimage

        if self.drift is None:
            return frames
        out = np.array(frames, dtype=float)
        for k, d in enumerate(self.drift):
            if not d.any():
                continue
            # the stage moved the image exactly (the camera samples the moved image); registration
            # moves it back by linear interpolation
            moved = np.real(np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(out[k]), d)))
            out[k] = ndimage.shift(moved, -d, order=1, mode="nearest")
        return out

    def _blur(self, field: np.ndarray) -> np.ndarray:
        from scipy import ndimage

        if self.sigma is not None:
            field = ndimage.gaussian_filter(field, (0.0,) + tuple(self.sigma), mode="constant")
        return self._registered(field)

    def forward(self, theta: np.ndarray) -> dict:
        """The simulated θ seen through the microscope and its misfit.

        Returns a dict: ``ssr`` (weighted sum of squared differences over the misfit's
        pixel-frames), ``seen`` (frame, y, x: the simulated total contrast, or the blurred θ with
        ``calibration="result"``), ``residual`` (weighted, over the used pixel-frames), and for a
        fitted calibration the law's ``knots`` and ``amplitudes``."""
        if self.calibration == "result":
            seen = blur_inside(theta, self.inside, self.sigma)
            resid = (seen[self.use] - self.measured[self.use]) * self._sqrt_w
            return {"ssr": float(resid @ resid), "seen": seen, "residual": resid}
        knots = self.law_knots(theta)
        basis = law_basis(np.where(self.inside, np.nan_to_num(theta, nan=self.theta0), self.theta0), knots,
                          self.theta0)
        basis = np.where(self.inside[..., None], basis, 0.0)
        columns = []
        for j in range(basis.shape[-1]):
            columns.append(self._blur(basis[..., j]))  # ΔI (counts) per unit amplitude of piece j
        design = np.stack([self._per_pixel(c[self.use]) * self._sqrt_w for c in columns], axis=1)
        amp, ssr = _nnls_law(design, self._target)
        resid = design @ amp - self._target
        change = sum(a * c for a, c in zip(amp, columns))
        seen = np.where(self.inside, change / np.where(self.i0 > 0, self.i0, np.inf), np.nan)
        return {"ssr": ssr, "seen": seen, "residual": resid, "knots": knots, "amplitudes": amp}

    def residual_field(self, out: dict) -> np.ndarray:
        """The weighted residual of :meth:`forward` back on (frame, y, x) (0 where not used)."""
        field = np.zeros(self.measured.shape)
        field[self.use] = out["residual"]
        return field

    def theta_measured(self, out: dict) -> np.ndarray:
        """The measured θ maps: the contrast result's own with ``calibration="result"``, else the
        fitted optical law inverted pixel by pixel (ΔI = ΔB(θ) · I_0/I_0 without the PSF)."""
        if self.calibration == "result":
            return self.measured
        knots, amp = out["knots"], out["amplitudes"]
        grid = np.linspace(knots[0], knots[-1], 801)
        law = law_basis(grid, knots, self.theta0) @ amp  # ΔB(θ), counts
        meas = np.where(np.isfinite(self.measured), self.difference, np.nan)
        if not np.any(np.diff(law) != 0):
            return np.full(meas.shape, np.nan)
        order = np.argsort(law, kind="stable")
        theta = np.interp(meas, law[order], grid[order])
        return np.where(np.isfinite(meas), theta, np.nan)

    # ------------------------------------------------------------------ the comparison
    def dataset(self, params: dict, theta: np.ndarray, out: dict) -> xr.Dataset:
        """The comparison Dataset (see :func:`compare_movie`) for simulated ``theta`` seen as ``out``."""
        ds = self.result
        coords = {"time": ("time", self.times, {"units": "s", "long_name": "time"}),
                  "y": ds["y"].variable, "x": ds["x"].variable}
        seen_theta = blur_inside(theta, self.inside, self.sigma)
        measured_theta = self.theta_measured(out)
        resid = self.residual_field(out)
        frame_misfit = np.array([np.mean(r[u] ** 2) if u.any() else np.nan for r, u in zip(resid, self.use)])
        space = "total contrast" if self.calibration == "fit" else "theta"
        data = {
            "mask": (("y", "x"), self.inside.astype(np.int8),
                     {"units": "1", "long_name": "particle pixels simulated (the contrast mask"
                      + (", refined against the reference frame)" if self.outline == "refine" else ")")}),
            "theta_simulated": (("time", "y", "x"), seen_theta,
                                {"units": "1", "long_name": "simulated lithium fraction blurred by the PSF inside "
                                                            "the particle"}),
            "theta_measured": (("time", "y", "x"), measured_theta,
                               {"units": "1", "long_name": "lithium fraction from the movie (" +
                                ("the fitted optical law inverted per pixel, without the PSF: a view, biased "
                                 "toward the matrix at the edge and toward theta0 where nothing changes; the fit "
                                 "itself compares total contrast" if self.calibration == "fit"
                                 else "the contrast result's calibration") + ")"}),
            "theta_residual": (("time", "y", "x"), seen_theta - measured_theta,
                               {"units": "1", "long_name": "simulated minus measured theta"}),
            "misfit": ((), out["ssr"] / self.n_data,
                       {"units": "1", "long_name": f"weighted mean squared {space} difference over particle "
                                                   "pixels and frames after the reference"}),
            "frame_misfit": (("time",), frame_misfit,
                             {"units": "1", "long_name": f"weighted mean squared {space} difference per frame "
                                                         "(NaN at the reference)"}),
        }
        for name, value in params.items():
            data[name] = ((), float(value), {"units": "1", "long_name": {"alpha": "scale factor on D(theta)"}.get(
                name, name)})
        if self.calibration == "fit":
            data["contrast_simulated"] = (("time", "y", "x"), out["seen"],
                                          {"units": "1", "long_name": "simulated total contrast I_t/I_0 - 1"})
            data["contrast_measured"] = (("time", "y", "x"), self.measured,
                                         {"units": "1", "long_name": "measured total contrast I_t/I_0 - 1"})
            grid = np.linspace(out["knots"][0], out["knots"][-1], 41)
            coords["law_theta"] = ("law_theta", grid, {"units": "1", "long_name": "theta of the optical law"})
            i_ref = float(np.nanmean(self.i0[self.inside]))
            data["optical_law"] = (("law_theta",), law_basis(grid, out["knots"], self.theta0) @ out["amplitudes"]
                                   / i_ref, {"units": "1", "long_name": "fitted particle brightness change "
                                             "(B(theta) - B(theta0)) / mean I_0 inside the particle"})
        if "ring" in ds and ds["ring"].dims == ("y", "x") and "ring_index" in ds.coords:
            ring = np.asarray(ds["ring"].values)
            idx = np.asarray(ds["ring_index"].values)
            for name, field in (("simulated", seen_theta), ("measured", measured_theta)):
                means = np.full((self.times.size, idx.size), np.nan)
                for j, k in enumerate(idx):
                    sel = (ring == k) & self.inside
                    if sel.any():
                        means[:, j] = np.nanmean(field[:, sel], axis=1)
                data[f"ring_theta_{name}"] = (("time", "ring_index"), means,
                                              {"units": "1", "long_name": f"{name} theta per equal-area ring "
                                                                          "(0 = edge)"})
            coords["ring_index"] = ds["ring_index"].variable
        attrs = {
            "title": "lithmap model-movie comparison",
            "protocol": self.protocol,
            "theta0": self.theta0,
            "material": self.material.name,
            "diffusivity": str(self.diffusivity_name) if self.diffusivity_name is not None else "",
            "diffusivity_source": str(getattr(self.material.diffusivity, "source", "") or ""),
            "contrast_source": self.source,
            "lithmap_version": __version__,
            "psf_fwhm": float(self.sigma[1] * FWHM_PER_SIGMA * self.pixel_size[1]) if self.sigma else 0.0,
            "psf_source": self.psf_source,
            "reference_frame": int(self.frames[0]),
            "n_data": self.n_data,
            "calibration": self.calibration,
            "outline": self.outline,
            "misfit_definition": self.misfit_definition(),
            "attr_units": "psf_fwhm in m; theta0 a fraction; profile_line in pixel; law_knots in theta; "
                          "law_amplitudes in counts (the brightness change over each piece of the optical law)",
            "citation": "Xu, Merryweather et al., Joule 2022 (the GITT D(theta) scaled by alpha and fitted to the "
                        "operando movie)",
        }
        for key in ("profile_line", "movie_source", "synthetic"):
            if key in ds.attrs:
                attrs[key] = ds.attrs[key]
        if self.calibration == "fit":
            attrs["law_knots"] = np.asarray(out["knots"])
            attrs["law_amplitudes"] = np.asarray(out["amplitudes"])
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def misfit_definition(self) -> str:
        if self.calibration == "result":
            return ("mean over particle pixels and frames after the reference frame of (theta_simulated - "
                    "theta_measured)^2; theta_simulated is the engine's theta blurred by the Gaussian PSF inside the "
                    "particle, normalised by the blurred mask; theta_measured the contrast result's calibration")
        return ("mean over particle pixels (less the outermost pixel) and frames after the reference frame of "
                "(dI_meas - dI_sim)^2 / (I_0s mean(I_0s)), dI = I_t - I_0 the measured intensity change and I_0s the "
                "reference frame smoothed by 1 px (shot-noise weights; about the squared total-contrast difference); "
                "dI_sim = R(G * (dB(theta_sim) mask)) with G the Gaussian PSF, R the registration's shifts and "
                f"dB a monotone piecewise-linear law ({self.law_segments} segments, zero at theta0) fitted by "
                "non-negative least squares")


def compare_movie(result, *, alpha: float | None = None, material=None, diffusivity=None, rate=None, protocol=None,
                  log=None, log_offset=0.0, mass=None, theta0=None, psf="auto", calibration: str = "fit",
                  law_segments: int = LAW_SEGMENTS, outline: str = "refine") -> xr.Dataset:
    """Simulate the particle of a ``lithmap contrast`` result on its own pixels and compare it,
    seen through the microscope, with the movie.

    The engine runs on the result's ``mask`` through the movie's protocol (a constant ``rate``,
    a ``protocol`` text, or the measured current of a cycler ``log``), starting uniform at
    ``theta0`` at the reference frame (time zero). With ``calibration="fit"`` (default) the
    simulated θ becomes total contrast through a monotone optical law fitted jointly and the
    Gaussian PSF, and is compared with the measured total contrast (the module docstring,
    :mod:`lithmap.inverse.compare`, has the model); with ``calibration="result"`` the simulated
    θ, blurred inside the particle, is compared with the result's calibrated θ.

    Parameters
    ----------
    result : xarray.Dataset or path
        A ``lithmap contrast`` result (:func:`lithmap.analyse_movie`) with ``mask`` (y, x;
        coordinates in m), ``intensity`` and ``total_contrast`` (time, y, x) and, for
        ``calibration="result"``, a calibrated ``theta``.
    alpha : float, optional
        Scale factor on the material's D(θ) (default the material's own α).
    material : str or Material, optional
        Material preset (``"nmc811"``).
    diffusivity : float, str or path, optional
        D(θ) replacing the material's: m²/s, a quantity or a CSV table (``theta``, ``diffusivity_m2_s``).
    rate : str or float, optional
        The constant C-rate of the movie, ``"C/3"`` (charge) or ``"-C/3"`` (discharge).
    protocol : str or list of Step, optional
        The protocol instead (``"Discharge at 1C until 3.0 V then Hold at 3.0 V for 1 hour"``).
    log, log_offset, mass
        The cycler log of the movie, its time offset (s) and the active mass (kg or ``"2mg"``):
        the protocol is the measured current (:func:`lithmap.movie_protocol`).
    theta0 : float, optional
        θ at the reference frame; default the result's ``theta0`` attr, else its calibration's
        mean θ at the reference frame, else 0.97.
    psf : float, str or None
        FWHM of the Gaussian PSF in m or as a quantity (``"150nm"``; σ = FWHM / 2.3548);
        ``"auto"`` (default): estimated from the particle edge in the reference frame
        (:func:`lithmap.estimate_psf`); None: no blur.
    calibration : {"fit", "result"}
        Fit the optical law jointly (default) or use the result's calibrated θ.
    law_segments : int
        Pieces of the monotone optical law (1: linear).
    outline : {"refine", "mask"}
        Simulate the contrast mask refined against the reference frame (default;
        :func:`lithmap.inverse.outline.refine_outline`, needs a PSF) or the mask as it is.

    Returns
    -------
    xarray.Dataset
        ``theta_simulated``, ``theta_measured``, ``theta_residual`` (time, y, x; from the
        reference frame on, NaN outside the particle), ``contrast_simulated`` and
        ``contrast_measured`` and ``optical_law`` (on ``law_theta``) with a fitted calibration,
        ``misfit`` (scalar, the ``misfit_definition`` attr), ``frame_misfit`` (time), ``alpha``
        and, when the result has rings, ``ring_theta_simulated`` and ``ring_theta_measured``
        (time, ring_index; ring 0 at the edge).

    Examples
    --------
    >>> import lithmap as lm
    >>> movie = lm.analyse_movie("example", rate="C/3", material="nmc811")
    >>> cmp = compare_movie(movie.isel(time=slice(0, 6)), alpha=2.7, material="nmc811", rate="C/3", psf="177nm")
    >>> cmp.contrast_simulated.dims, cmp.sizes["time"], bool(cmp.misfit < 1e-3)  # shot noise: ~0.02 per pixel
    (('time', 'y', 'x'), 6, True)
    """
    problem = MovieProblem(result, material=material, diffusivity=diffusivity, rate=rate, protocol=protocol, log=log,
                           log_offset=log_offset, mass=mass, theta0=theta0, psf=psf, calibration=calibration,
                           law_segments=law_segments, outline=outline)
    alpha = problem.material.alpha if alpha is None else float(alpha)
    theta = problem.simulate_theta(alpha)
    return problem.dataset({"alpha": alpha}, theta, problem.forward(theta))
