"""The microscope's point-spread function, estimated from the particle edge in one frame of a
``lithmap contrast`` result.

The model of the frame near the particle's edge is a uniform particle of brightness ``B`` on a
uniform matrix ``M``, blurred by a Gaussian point-spread function G_σ:

    I(p) = M + (B − M) · (G_σ * χ)(p),

χ the particle's outline (1 inside, 0 outside, on the frame's pixels). For a given σ the model
is linear in ``M`` and ``B``, so they are solved exactly by least squares and σ alone is
searched (variable projection) over a bounded range, on the pixels of a band around the edge.
This is the same forward operator :func:`lithmap.compare_movie` uses (a Gaussian on the pixel
grid acting on the pixel mask), so the σ found here is the one to give it as ``psf``.

Choices, and why:

* **Outline.** χ is the half-maximum outline, the pixels brighter than (B + M)/2 connected to the
  result's mask (holes filled), refined with the fitted levels. For a straight edge the
  half-maximum contour of a Gaussian-blurred step is exactly the true edge whatever σ; for a
  convex edge of radius R it moves inward by only ≈ σ²/(2R) (0.06 px for σ = 1.5 px on a 1 µm
  particle at 50 nm pixels). The result's own mask (an Otsu threshold) sits at another level and
  is biased by σ, so it is not used as χ (the number of pixels where they differ is reported).
* **Band.** Only pixels within ``4σ`` of the edge carry information on σ; pixels deeper inside
  carry the particle's interior non-uniformity, which the model has not got. The band is set from
  the largest σ searched first, then narrowed to 4σ̂ (at least 3 px) and refitted until it settles.
* **Other objects.** Pixels closer than the band's width to any other object (brighter or darker
  than the matrix by a quarter of the particle's contrast, after a 1 px smoothing, not touching
  the particle) are left out, as are non-finite pixels.
* **Unresolved PSF.** Below σ ≈ 0.3 px a Gaussian on the pixel grid no longer changes a pixel
  mask measurably. The search starts at σ = 0.25 px; when the 95 % profile-likelihood interval of
  σ reaches that bound the PSF is *unresolved*: the result says so (``resolved`` False, a
  ``note`` attr) and gives the best value (near the bound) and the upper limit ``fwhm_high``;
  nothing is raised, and a PSF this small hardly matters for a comparison on these pixels.
* **Too blurred.** A best σ at the upper bound (``max_fwhm``) is no estimate: a one-line error.
* **Noise.** Unweighted least squares (unbiased under shot noise, which a weighted fit with
  weights from the data is not); the interval treats the residual as white noise of one
  variance, so it is a statistical interval only: an interior that is not uniform near the edge,
  a non-Gaussian PSF or interpolation from registration (the reference frame itself is not
  shifted) bias σ beyond it.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError
from .compare import FWHM_PER_SIGMA
from .fit import CHI2_95
from .outline import flip_edge_pixels

#: Smallest σ searched, pixels: below it a Gaussian on the pixel grid leaves a pixel mask unchanged to ~1e-4.
SIGMA_MIN = 0.25



def _contrast_frame(result, frame):
    """(dataset, frame index, frame as float array, result mask as bool) after the checks."""
    from ..io.results import read_result

    name = "result"
    if not isinstance(result, xr.Dataset):
        if isinstance(result, xr.DataArray):
            raise LithmapError("estimate_psf takes a 'lithmap contrast' result (a Dataset with intensity and mask), "
                               "not a DataArray; run lithmap.analyse_movie on the movie first")
        name = f"{str(result)!r}"
        result = read_result(result)
    for var, dims in (("intensity", ("time", "y", "x")), ("mask", ("y", "x"))):
        if var not in result or result[var].dims != dims:
            raise LithmapError(f"{name} is not a 'lithmap contrast' result: it has no {var} on {dims}")
    n = result.sizes["time"]
    if frame is None:
        frame = int(result.attrs.get("reference_frame", 0))
    if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)) or not -n <= frame < n:
        raise LithmapError(f"frame={frame!r} is invalid; expected a frame index in 0-{n - 1}")
    frame = int(frame) % n
    mask = np.asarray(result["mask"].values).astype(bool)
    if mask.shape != result["intensity"].shape[1:]:
        raise LithmapError(f"{name}: the mask {mask.shape} does not match the movie's frames "
                           f"{result['intensity'].shape[1:]}")
    if not mask.any():
        raise LithmapError(f"{name}: the particle mask is empty")
    img = np.asarray(result["intensity"][frame].values, dtype=float)
    return result, frame, img, mask


def _levels(img, inside, outside):
    """Median brightness of the particle's and the matrix's pixels (finite only)."""
    b = img[inside & np.isfinite(img)]
    m = img[outside & np.isfinite(img)]
    if b.size == 0 or m.size == 0:
        raise LithmapError("the frame has no finite pixels inside the particle or in the matrix around it")
    return float(np.median(b)), float(np.median(m))


def _outline(img, seed, level):
    """Pixels above ``level`` connected to ``seed`` (the components it touches most), holes filled."""
    from scipy import ndimage

    bright = np.nan_to_num(img, nan=-np.inf) > level
    lab, n = ndimage.label(bright)
    if n == 0:
        return np.zeros_like(seed)
    hits = np.bincount(lab[seed], minlength=n + 1)
    hits[0] = 0
    if hits.max() == 0:
        return np.zeros_like(seed)
    return ndimage.binary_fill_holes(lab == int(np.argmax(hits)))


class _SubpixelOutline:
    """The half-maximum contour of the frame interpolated by a cubic spline on a ``k``-times finer
    grid (the component that overlaps ``chi`` most, holes filled), as the fraction of each pixel
    inside it: the outline of a particle whose edge does not follow the pixel grid.

    :meth:`corrected` undoes the blur's inward shift of a curved contour (≈ σ²/(2R) on a disc of
    radius R): the outline X whose blurred image has its half-maximum contour where the frame has
    it, by the fixed point X ← {d_O + d_X − d_P > 0}, d the signed distance to a set (inside > 0),
    O the observed set and P the half-maximum set of G_σ * X.
    """

    def __init__(self, img, chi, level, fill, k=8, smooth=0.0):
        from scipy import ndimage

        ys, xs = np.nonzero(ndimage.binary_dilation(chi, iterations=3))
        self.box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        self.shape, self.k, self.smooth = chi.shape, k, float(smooth)
        sub = np.nan_to_num(img, nan=fill)
        if self.smooth > 0:  # the contour of the frame seen through G_smooth: less noise, shifted like the PSF's
            sub = ndimage.gaussian_filter(sub, self.smooth, mode="nearest")
        sub = sub[self.box]
        seed = np.repeat(np.repeat(chi[self.box], k, axis=0), k, axis=1)
        self.observed = _outline(self._fine(sub), seed, level)

    def _fine(self, field):
        from scipy import ndimage

        offs = (np.arange(self.k) + 0.5) / self.k - 0.5
        gy = (np.arange(field.shape[0])[:, None] + offs).ravel()
        gx = (np.arange(field.shape[1])[:, None] + offs).ravel()
        return ndimage.map_coordinates(field, np.meshgrid(gy, gx, indexing="ij"), order=3, mode="nearest")

    def fraction(self, fine=None):
        """The fine set (default the observed one) as the fraction of each pixel inside it."""
        fine = self.observed if fine is None else fine
        ny, nx = fine.shape[0] // self.k, fine.shape[1] // self.k
        frac = np.zeros(self.shape)
        frac[self.box] = fine.reshape(ny, self.k, nx, self.k).mean(axis=(1, 3))
        return frac

    def corrected(self, sigma, iterations=3):
        """The outline (pixel fractions) corrected for the blur's shift of the contour at ``sigma`` (px)."""
        from scipy import ndimage

        def signed(x):
            return ndimage.distance_transform_edt(x) - ndimage.distance_transform_edt(~x)

        d_obs = signed(self.observed)
        fine = self.observed
        total = float(np.hypot(sigma, self.smooth))
        for _ in range(iterations):
            blurred = ndimage.gaussian_filter(self.fraction(fine), total, mode="constant")[self.box]
            seen = self._fine(blurred) > 0.5
            if not seen.any():
                break
            fine = d_obs + signed(fine) - signed(seen) > 0
        return self.fraction(fine)


class _EdgeFit:
    """The variable-projection problem for one outline and one set of fitted pixels."""

    def __init__(self, img, chi, use):
        from scipy import ndimage

        ys, xs = np.nonzero((chi > 0) | use)
        self.box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        # χ is zero outside the box, so blurring the box (zero-padded) is exact on it
        self.chi = chi[self.box].astype(float)
        self.use = use[self.box]
        self.data = img[self.box][self.use]
        self.n = int(self.use.sum())
        self._filter = ndimage.gaussian_filter
        self._cache = {}

    def blurred(self, sigma):
        return self._filter(self.chi, float(sigma), mode="constant", truncate=4.0)

    def solve(self, sigma):
        """(SSR, M, B) at ``sigma``."""
        key = float(sigma)
        if key not in self._cache:
            b = self.blurred(sigma)[self.use]
            design = np.stack([1.0 - b, b], axis=1)
            coef, *_ = np.linalg.lstsq(design, self.data, rcond=None)
            r = design @ coef - self.data
            self._cache[key] = (float(r @ r), float(coef[0]), float(coef[1]))
        return self._cache[key]

    def ssr(self, sigma):
        return self.solve(sigma)[0]


def _search(fit, lo, hi, n_grid=41):
    """Best σ in [lo, hi]: a log-spaced grid, then bounded Brent in the best grid cell."""
    from scipy.optimize import minimize_scalar

    grid = np.geomspace(lo, hi, n_grid)
    ssr = np.array([fit.ssr(s) for s in grid])
    k = int(np.argmin(ssr))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, n_grid - 1)]
    res = minimize_scalar(fit.ssr, bounds=(a, b), method="bounded", options={"xatol": 1e-4 * grid[k]})
    best = float(res.x) if res.fun <= ssr[k] else float(grid[k])
    return best, grid, ssr


def _interval(fit, best, lo, hi):
    """95 % profile-likelihood interval of σ: SSR(σ) − SSR_min ≤ χ²(0.95) · SSR_min / (n − 3)."""
    from scipy.optimize import brentq

    s_min = fit.ssr(best)
    limit = s_min + CHI2_95 * s_min / max(fit.n - 3, 1)

    def excess(s):
        return fit.ssr(s) - limit

    def side(end):
        if excess(end) <= 0:
            return end, False  # the interval reaches the bound
        return brentq(excess, min(best, end), max(best, end), xtol=1e-4 * best), True

    (low, closed_low), (high, _) = side(lo), side(hi)
    return float(low), float(high), closed_low


def estimate_psf(result, *, frame=None, max_fwhm=None) -> xr.Dataset:
    """The Gaussian point-spread function of the microscope, estimated from the particle edge.

    Fits I = M + (B − M) · (G_σ * χ) to the pixels of a band around the particle's edge in one
    frame (the reference frame by default) of a ``lithmap contrast`` result: χ the half-maximum
    outline of the particle, M and B (matrix and particle levels) by linear least squares for each
    σ, σ by a bounded 1-D search, with a 95 % profile-likelihood interval. The module docstring
    (:mod:`lithmap.inverse.optics`) says why the outline, the band and the exclusions are what
    they are. The FWHM is what :func:`lithmap.compare_movie` takes as ``psf``.

    Parameters
    ----------
    result : xarray.Dataset or path
        A ``lithmap contrast`` result (:func:`lithmap.analyse_movie`): ``intensity`` (time, y, x),
        ``mask`` (y, x) and ``x``, ``y`` coordinates in m (or a ``pixel_size`` attr).
    frame : int, optional
        The frame to read the edge in; default the result's ``reference_frame`` (not shifted by
        the registration, so not blurred by its interpolation).
    max_fwhm : float or str, optional
        Largest FWHM searched, m or a quantity (``"600nm"``); default 8 px, or half the
        particle's equivalent radius when that is smaller (at least 1 px).

    Returns
    -------
    xarray.Dataset
        Scalars ``fwhm``, ``fwhm_low``, ``fwhm_high`` (m; the 95 % interval), ``sigma`` (pixel),
        ``particle_level`` and ``matrix_level`` (the intensity's units), ``rms`` (the residual's
        root mean square), ``n_pixels`` (pixels fitted) and ``resolved`` (False when the interval
        reaches the smallest σ searched, 0.25 px: the PSF is then below what the pixels resolve
        and ``fwhm`` is only an upper-bounded guess, ``fwhm_high`` the upper limit); ``outline``
        (y, x; the half-maximum outline used as χ) and ``edge_pixels`` (y, x; the pixels fitted);
        ``edge_misfit`` on ``trial_sigma`` (pixel), the mean squared residual against σ. Attrs
        ``frame``, ``pixel_size`` (m), ``mask_difference`` (pixels where the outline and the
        result's mask differ), ``note`` and ``method``.

    Raises
    ------
    LithmapError
        Not a contrast result, an empty mask, a bad frame or ``max_fwhm``, a particle not brighter
        than its matrix, too few edge pixels, or a best σ at the upper bound (one line).

    Examples
    --------
    The shipped example movie was made with σ = 1.5 px (FWHM 177 nm at 50 nm pixels):

    >>> import lithmap as lm
    >>> psf = estimate_psf(lm.analyse_movie("example", register=False))
    >>> round(float(psf.fwhm) * 1e9), round(float(psf.sigma), 2), bool(psf.resolved), psf.attrs["outline_model"]
    (176, 1.49, True, 'pixel')
    >>> psf.attrs["note"]
    'PSF FWHM 176 nm (sigma 1.49 px), 95 % interval 174-177 nm'

    The comparison takes it as ``lm.compare_movie(movie, ..., psf=float(psf.fwhm))``.
    """
    from scipy import ndimage

    from ..io.images import pixel_size_of
    from ..io.units import parse_quantity

    ds, frame, img, mask = _contrast_frame(result, frame)
    px = pixel_size_of(ds["mask"])
    if px is None:
        px = pixel_size_of(ds)
    if px is None or not px > 0:
        raise LithmapError("the contrast result has no pixel size (x, y coordinates in m); give the movie's "
                           "--pixel-size to 'lithmap contrast'")
    ok = np.isfinite(img)
    r_eq = float(np.sqrt(mask.sum() / np.pi))
    if max_fwhm is None:
        hi = max(1.0, min(8.0, 0.5 * r_eq))
    else:
        f = parse_quantity(max_fwhm, "m", name="max_fwhm")
        hi = f / FWHM_PER_SIGMA / px
        if not (np.isfinite(hi) and hi > SIGMA_MIN * 1.5):
            raise LithmapError(f"max_fwhm={max_fwhm!r} is invalid; expected a FWHM above "
                               f"{1.5 * SIGMA_MIN * FWHM_PER_SIGMA * px * 1e9:.0f} nm (0.37 px) such as '600nm'")
    lo = SIGMA_MIN

    # first levels from the result's mask: its interior and the matrix a few pixels away
    interior = ndimage.binary_erosion(mask, iterations=2)
    if not interior.any():
        interior = mask
    near = ndimage.binary_dilation(mask, iterations=int(np.ceil(3 * hi)) + 2)
    b_lev, m_lev = _levels(img, interior, ~near if (~near & ok).any() else ~mask)
    if not b_lev > m_lev:
        raise LithmapError(f"the particle ({b_lev:g}) is not brighter than the matrix around it ({m_lev:g}) in "
                           f"frame {frame}; the PSF is estimated from a bright particle on a darker matrix")
    smooth = ndimage.gaussian_filter(np.where(ok, img, m_lev), 1.0)

    sigma, width, chi, fit, sigma_prev = hi, 4.0 * hi, mask, None, None
    for _ in range(6):  # outline from the levels, band from σ, until the band settles
        chi = _outline(img, mask, 0.5 * (b_lev + m_lev))
        if not chi.any():
            raise LithmapError(f"no pixel of the particle is above half maximum ({0.5 * (b_lev + m_lev):g}) in "
                               f"frame {frame}")
        # other objects: clearly off the matrix level, not touching the particle's blurred skirt
        off = np.abs(smooth - m_lev) > 0.25 * (b_lev - m_lev)
        lab, _ = ndimage.label(off)
        own = np.unique(lab[ndimage.binary_dilation(chi, iterations=1) & off])
        others = off & ~np.isin(lab, own)
        d_in = ndimage.distance_transform_edt(chi)
        d_out = ndimage.distance_transform_edt(~chi)
        band = np.where(chi, d_in, d_out) <= width + 0.5
        use = band & ok
        if others.any():
            use &= ndimage.distance_transform_edt(~others) > width + 0.5
        if use.sum() < 10 or not (use & chi).any() or not (use & ~chi).any():
            raise LithmapError(f"too few edge pixels to fit ({int(use.sum())}) in frame {frame}: the particle is "
                               "too close to other objects or to the border")
        # the pixel outline (an object drawn on the pixel grid) or the sub-pixel one (an edge that
        # crosses pixels): whichever fits better, with the same pixels and parameters
        if sigma_prev is None:
            frac = _SubpixelOutline(img, chi, 0.5 * (b_lev + m_lev), m_lev).fraction()
        else:
            frac = _SubpixelOutline(img, chi, 0.5 * (b_lev + m_lev), m_lev,
                                    smooth=0.5 * sigma_prev).corrected(sigma_prev)
        pix, flips = (chi, 0) if sigma_prev is None else flip_edge_pixels(img, chi, use, sigma_prev, m_lev, b_lev)
        cands = []
        for kind, outline in (("pixel", pix), ("subpixel", frac)):
            f = _EdgeFit(img, outline, use)
            cands.append((kind, f) + _search(f, lo, hi))
        # each flipped pixel is a parameter fitted to the data: AIC's 2 s² each, s² the residual variance
        s2 = min(f.ssr(s) for _, f, s, _, _ in cands) / max(cands[0][1].n, 1)
        score = [f.ssr(s) + (2.0 * s2 * flips if kind == "pixel" else 0.0) for kind, f, s, _, _ in cands]
        best = cands[int(np.argmin(score))]
        outline_kind, fit, sigma, grid, ssr = best
        _, m_lev, b_lev = fit.solve(sigma)
        if not b_lev > m_lev:
            raise LithmapError(f"the fitted particle level ({b_lev:g}) is not above the matrix ({m_lev:g}) in "
                               f"frame {frame}")
        new_width = max(3.0, 4.0 * sigma)
        settled = sigma_prev is not None and abs(sigma - sigma_prev) <= 0.01 * sigma
        if settled and abs(new_width - width) <= 0.05 * width:
            break
        width, sigma_prev = new_width, sigma
    if sigma >= hi * (1 - 1e-3):
        raise LithmapError(f"the particle edge is blurrier than max_fwhm={hi * FWHM_PER_SIGMA * px * 1e9:.0f} nm "
                           f"(sigma {hi:.2f} px, the upper bound of the search); give a larger max_fwhm")
    low, high, resolved = _interval(fit, sigma, lo, hi)
    ssr_min, m_lev, b_lev = fit.solve(sigma)
    nm = sigma * FWHM_PER_SIGMA * px * 1e9
    if resolved:
        note = (f"PSF FWHM {nm:.0f} nm (sigma {sigma:.2f} px), 95 % interval {low * FWHM_PER_SIGMA * px * 1e9:.0f}-"
                f"{high * FWHM_PER_SIGMA * px * 1e9:.0f} nm")
    else:
        note = (f"PSF unresolved: smaller than the pixels can measure (95 % upper limit "
                f"{high * FWHM_PER_SIGMA * px * 1e9:.0f} nm, sigma {high:.2f} px); fwhm is the best value near the "
                f"search's lower bound {lo} px")
    outline = frac if outline_kind == "subpixel" else pix.astype(float)
    fitted = np.zeros(mask.shape, np.int8)
    fitted[use] = 1
    units = ds["intensity"].attrs.get("units", "counts")
    coords = {"y": ds["y"].variable, "x": ds["x"].variable,
              "trial_sigma": ("trial_sigma", grid, {"units": "pixel", "long_name": "Gaussian sigma tried"})}
    data = {
        "fwhm": ((), sigma * FWHM_PER_SIGMA * px, {"units": "m", "long_name": "FWHM of the Gaussian PSF"}),
        "fwhm_low": ((), low * FWHM_PER_SIGMA * px, {"units": "m", "long_name": "FWHM, 95 % lower limit"}),
        "fwhm_high": ((), high * FWHM_PER_SIGMA * px, {"units": "m", "long_name": "FWHM, 95 % upper limit"}),
        "sigma": ((), sigma, {"units": "pixel", "long_name": "sigma of the Gaussian PSF"}),
        "particle_level": ((), b_lev, {"units": units, "long_name": "fitted particle brightness B"}),
        "matrix_level": ((), m_lev, {"units": units, "long_name": "fitted matrix brightness M"}),
        "rms": ((), float(np.sqrt(ssr_min / fit.n)), {"units": units, "long_name": "root mean square residual"}),
        "n_pixels": ((), fit.n, {"long_name": "edge pixels fitted"}),
        "resolved": ((), bool(resolved), {"long_name": "the 95 % interval excludes the smallest sigma searched"}),
        "outline": (("y", "x"), outline, {"units": "1", "long_name": "half-maximum outline of the particle (chi): "
                                           "the fraction of each pixel inside it"}),
        "edge_pixels": (("y", "x"), fitted, {"long_name": "pixels fitted"}),
        "edge_misfit": (("trial_sigma",), ssr / fit.n, {"units": f"({units})^2",
                                                        "long_name": "mean squared residual of the edge model"}),
    }
    attrs = {
        "title": "lithmap point-spread function from the particle edge",
        "frame": frame,
        "pixel_size": float(px),
        "outline_model": outline_kind,
        "mask_difference": int(np.count_nonzero(chi != mask)),
        "note": note,
        "method": ("I = M + (B - M) G_sigma * chi over pixels within 4 sigma (>= 3 px) of the edge of chi, the "
                   "half-maximum outline; M, B by linear least squares for each sigma, sigma by a bounded search "
                   f"over {lo}-{hi:.3g} px; interval: SSR - SSR_min <= 3.84 SSR_min / (n - 3); pixels near other "
                   "objects and non-finite pixels left out"),
        "attr_units": "pixel_size in m",
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)
