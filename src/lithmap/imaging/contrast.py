"""From an operando movie to total-contrast maps (Xu, Merryweather et al., Joule 2022: Figs. 2B/D,
3E/F, 4B).

- :func:`register_stack`: sub-pixel drift of every frame against a reference frame by phase
  correlation of particle silhouettes (skimage), frames shifted back;
- :func:`particle_mask`: the bright particle on the dark matrix (Otsu threshold, largest
  connected part, holes filled);
- :func:`contrast_movie`: registered, flicker-normalised intensity, total contrast
  I_t/I_ref − 1 (the fractional change against the reference frame; positive = brighter = less
  lithium in NMC811), the mask, the per-frame drift, the whole-particle trace, equal-area rings,
  the centre trace, a kymograph along a line, per-particle traces and bad-pixel counts.

The movie — a DataArray (time, y, x) from :func:`lithmap.read_movie` — is processed in chunks of
frames, each read, corrected and reduced once, so a numpy-, memory-map- or Dask-backed movie goes
through the same code. The maps (``intensity``, ``total_contrast``) are allocated in memory except
for a Dask-backed movie: then they stay lazy and stream to disk chunk by chunk when the Dataset is
written, so only a lazy movie (``read_movie(..., lazy=True)``) may be larger than memory.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from ..errors import LithmapError
from .profiles import axis_line, line_sampler, sample_line
from .regions import equal_area_rings, find_particles


def _check_stack(stack):
    """The frames (numpy, Dask or any array with a shape) of a movie; a DataArray gives its data."""
    import xarray as xr

    if isinstance(stack, xr.DataArray):
        stack = stack.data
    shape = getattr(stack, "shape", None)
    if shape is None:
        stack = np.asarray(stack)
        shape = stack.shape
    if len(shape) != 3:
        raise LithmapError(f"movie has shape {tuple(shape)}; expected a stack of frames (time, y, x), "
                           "not a single image")
    if shape[0] < 2:
        raise LithmapError(f"movie has {shape[0]} frame; a contrast movie needs at least 2")
    return stack


def _check_movie(movie):
    """``(frames, times_s, pixel_size_m or None, coords)`` of a movie DataArray (time, y, x)."""
    from ..io.units import unit_scale

    if not isinstance(movie, xr.DataArray):
        raise LithmapError(f"movie is a {type(movie).__name__}; expected a DataArray (time, y, x) with a time "
                           "coordinate in s, from lithmap.read_movie or xarray.DataArray(frames, dims=('time', 'y', "
                           "'x'), coords={'time': times})")
    if movie.dims != ("time", "y", "x"):
        if movie.ndim == 2:
            raise LithmapError(f"movie has dims {movie.dims}; expected a stack of frames (time, y, x), "
                               "not a single image")
        raise LithmapError(f"movie has dims {movie.dims}; expected (time, y, x)")
    s = _check_stack(movie.data)
    if "time" not in movie.coords:
        raise LithmapError("movie has no time coordinate; give one (s), e.g. lithmap.read_movie(path, times=10)")
    factor = unit_scale(movie.time.attrs.get("units"), "s", default="s")
    if factor is None:
        raise LithmapError(f"movie time coordinate has units {movie.time.attrs['units']!r}; expected s")
    t = np.asarray(movie.time.values, float) * factor
    px = movie.attrs.get("pixel_size")
    coords = {}
    for d in ("y", "x"):
        n = movie.sizes[d]
        unit = movie[d].attrs.get("units", "pixel") if d in movie.coords else "pixel"
        scale = None if unit == "pixel" else unit_scale(unit, "m")
        if d in movie.coords and scale is not None:
            values = np.asarray(movie[d].values, float) * scale
            coords[d] = (d, values, {"units": "m"})
            if px is None and n > 1:
                px = float(values[1] - values[0])
        else:
            coords[d] = None  # pixels, or pixels of a known size (below)
    px = None if px is None else float(px)
    for d in ("y", "x"):
        if coords[d] is None:
            n = movie.sizes[d]
            coords[d] = (d, np.arange(n) * px, {"units": "m"}) if px else (d, np.arange(n) * 1.0, {"units": "pixel"})
    return s, t, px, coords


def _is_lazy(stack) -> bool:
    return type(stack).__module__.split(".")[0] == "dask"


def _read(stack, a: int, b: int) -> np.ndarray:
    """Frames a..b-1 as a new float64 array (reads only those frames from a lazy or on-disk array)."""
    return np.array(stack[a:b], dtype=float)


def _chunks(n: int, size: int):
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _silhouette(ref):
    """Map a frame to 0 on the matrix and 1 from the reference's Otsu level up (clipped): the
    blurred edge keeps the sub-pixel position, the brightening interior does not count."""
    from skimage.filters import threshold_otsu

    ok = ref[np.isfinite(ref)]
    level = threshold_otsu(ok)
    floor = np.median(ok[ok <= level])
    return lambda f: np.clip((np.nan_to_num(f, nan=floor) - floor) / (level - floor), 0.0, 1.0)


def frame_drift(stack, *, reference: int = 0, upsample: int = 20, chunk_frames: int = 16, progress=None) -> np.ndarray:
    """Drift (n, 2) in pixels (dy, dx) of every frame against ``reference``.

    Cross-correlates (upsampled, without phase normalisation) each frame's particle silhouette
    (see :func:`_silhouette`), so the particle's own brightening or a front moving inside it
    does not pull the estimate (≤ 0.1 px on known shifts and on the synthetic example movie).
    ``stack`` is a movie DataArray or any array (time, y, x); ``progress(k)`` is called with the
    number of frames done after each chunk.

    >>> import lithmap
    >>> drift = frame_drift(lithmap.read_movie("example"))
    >>> drift.shape, bool(abs(drift).max() < 3)
    ((31, 2), True)
    """
    from skimage.registration import phase_cross_correlation

    s = _check_stack(stack)
    n = s.shape[0]
    if not 0 <= reference < n:
        raise LithmapError(f"reference={reference!r} is outside the movie (frames 0-{n - 1})")
    ref = _read(s, reference, reference + 1)[0]
    sil = _silhouette(ref)
    ref_sil = sil(ref)
    drift = np.zeros((n, 2))
    for a, b in _chunks(n, chunk_frames):
        for k, f in enumerate(_read(s, a, b), start=a):
            if k != reference:
                shift, _, _ = phase_cross_correlation(ref_sil, sil(f), upsample_factor=upsample, normalization=None)
                drift[k] = -shift
        if progress is not None:
            progress(b - a)
    return drift


def _shift(frames, drift):
    from scipy import ndimage

    out = np.empty_like(frames)
    for k, (f, d) in enumerate(zip(frames, drift)):
        out[k] = f if not d.any() else ndimage.shift(f, -d, order=1, mode="nearest")
    return out


def register_stack(stack, *, reference: int = 0, upsample: int = 20):
    """Shift every frame of a movie onto its reference frame.

    The drift of each frame is found by upsampled phase correlation of particle silhouettes
    (0 on the matrix, 1 from the reference's Otsu level up), so the particle's own brightening
    does not pull it; frames are shifted back by linear interpolation.

    Parameters
    ----------
    stack : xarray.DataArray or array_like (time, y, x)
        The movie (from :func:`lithmap.read_movie`), or a plain array of frames.
    reference : int
        Index of the frame the others are registered to.
    upsample : int
        Upsampling factor of the correlation peak (precision 1/``upsample`` px).

    Returns
    -------
    registered : xarray.DataArray or numpy.ndarray
        The shifted frames (float), labelled like ``stack`` when it is a DataArray.
    drift : xarray.DataArray or numpy.ndarray
        The drift removed, (time, axis) in pixels (dy, dx).

    Examples
    --------
    >>> import lithmap
    >>> registered, drift = register_stack(lithmap.read_movie("example"))
    >>> registered.dims, drift.dims, drift.attrs["units"]
    (('time', 'y', 'x'), ('time', 'axis'), 'pixel')
    >>> round(float(drift.sel(axis="x")[-1]), 1)    # the example drifts 2 px along x in 31 frames
    1.9
    """
    s = _check_stack(stack)
    drift = frame_drift(s, reference=reference, upsample=upsample)
    registered = _shift(_read(s, 0, s.shape[0]), drift)
    if not isinstance(stack, xr.DataArray):
        return registered, drift
    return (stack.copy(data=registered),
            xr.DataArray(drift, dims=("time", "axis"), coords={"time": stack.time, "axis": ["y", "x"]}
                         if "time" in stack.coords else {"axis": ["y", "x"]}, name="drift",
                         attrs={"long_name": "drift removed (dy, dx)", "units": "pixel"}))


def particle_mask(frame):
    """The particle of one frame: the largest bright connected region (Otsu threshold), holes filled.

    Parameters
    ----------
    frame : xarray.DataArray or array_like (y, x)
        One image, e.g. the reference frame of a movie (no NaN pixels).

    Returns
    -------
    xarray.DataArray or numpy.ndarray of bool
        True on the particle; labelled like ``frame`` when it is a DataArray.

    Examples
    --------
    >>> import lithmap
    >>> m = particle_mask(lithmap.read_movie("example")[0])
    >>> m.dims, int(m.sum())
    (('y', 'x'), 1229)
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    f = np.asarray(frame, float)
    if f.ndim != 2:
        raise LithmapError(f"frame has shape {f.shape}; expected one 2D image")
    if not np.isfinite(f).all():
        raise LithmapError("the reference frame has NaN pixels; mask them or choose another reference")
    labels, n = ndimage.label(f > threshold_otsu(f))
    if n == 0:
        raise LithmapError("no particle found in the reference frame (empty mask)")
    sizes = np.bincount(labels.ravel())[1:]
    m = ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))
    if isinstance(frame, xr.DataArray):
        return xr.DataArray(m, dims=frame.dims, coords={d: frame[d] for d in frame.dims if d in frame.coords},
                            name="mask", attrs={"long_name": "particle pixels"})
    return m


def background_level(values: np.ndarray, trim: float = 0.25) -> np.ndarray:
    """The background level of each row of ``values`` (frames × background pixels): the mean of
    the middle half of the finite values (an interquartile mean).

    Robust to a few bright or dark pixels like the median, but not quantised: the median of
    integer camera counts jumps by whole counts (0.3 % of a 300-count background), which
    flicker normalisation would pass on to every pixel of the frame as a false contrast.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> counts = rng.poisson(300.0, size=(2, 4000)).astype(float)
    >>> counts[:, :40] = 60000.0  # a few saturated pixels
    >>> [round(float(v), 1) for v in background_level(counts)]
    [300.1, 300.6]
    """
    values = np.sort(np.asarray(values, dtype=float), axis=1)  # NaN sort last
    n = np.sum(np.isfinite(values), axis=1)
    out = np.full(values.shape[0], np.nan)
    for k, (row, m) in enumerate(zip(values, n)):
        if m == 0:
            continue
        lo, hi = int(np.floor(trim * m)), int(np.ceil((1 - trim) * m))
        out[k] = float(np.mean(row[lo:max(hi, lo + 1)]))
    return out


class _Plan:
    """Everything fixed by the reference frame: what each chunk of frames is reduced to."""

    def __init__(self, ref, mask, *, rings, line, flicker, saturation, labels, margin=3, max_background=16384):
        from scipy import ndimage
        from skimage.filters import threshold_otsu

        ny, nx = ref.shape
        self.mask = mask
        self.ring = equal_area_rings(mask, rings)
        self.rings = rings
        self.ring_of = self.ring.ravel().astype(np.int64)  # -1 outside the particle
        start, end = axis_line(mask, line) if isinstance(line, str) else line
        self.line = (tuple(map(float, start)), tuple(map(float, end)))
        self.distance, self.line_pixels, self.line_weights = line_sampler((ny, nx), start, end)
        with np.errstate(divide="ignore"):
            self.inv_ref = np.where(ref > 0, 1.0 / ref, np.nan).ravel()
        self.saturation = saturation
        self.labels = labels
        self.lab_of = (np.full(ny * nx, -1, np.int64) if labels is None else labels.ravel().astype(np.int64) - 1)
        self.n_labels = 0 if labels is None else int(labels.max())
        self.flicker = flicker
        from dask.base import tokenize

        self.token = tokenize(ref, mask, rings, self.line, flicker, saturation, labels)
        if flicker:
            # background = pixels more than `margin` px from anything bright (every particle in
            # the field, not only the analysed one), up to `max_background` of them, evenly spread
            fg = mask | (ref > threshold_otsu(ref[np.isfinite(ref)]))
            far = np.flatnonzero(~ndimage.binary_dilation(fg, iterations=margin))
            if far.size < 10:
                raise LithmapError("too little background around the particle to normalise flicker")
            self.background = far[:: max(1, far.size // max_background)]
            self.bg_ref = float(background_level(ref.ravel()[self.background][None, :])[0])
            if not self.bg_ref > 0:
                raise LithmapError(f"the reference frame's background level is {self.bg_ref:g}: flicker cannot be "
                                   "normalised by it (a dark-subtracted movie?); turn flicker normalisation off")

    def process(self, raw, drift, dtype, intensity=None, total_contrast=None, first=0):
        """Reduce frames ``raw`` (nf, y, x; any real dtype, left untouched) → corrected intensity,
        total contrast (into the given buffers, or new arrays of ``dtype``) and per-frame traces:
        one fused pass per frame (:func:`lithmap.imaging._kernels.fused_contrast`). ``first`` is
        the movie index of ``raw[0]`` (for messages)."""
        from ._kernels import fused_contrast

        nf = raw.shape[0]
        sat = np.inf if self.saturation is None else float(self.saturation)
        if drift.any():  # shift in float with bad pixels as NaN (a bad pixel spoils its neighbours)
            f = np.array(raw, dtype=float)
            f[~np.isfinite(f) | (f >= sat)] = np.nan
            src, sat = _shift(f, drift).reshape(nf, -1), np.inf
        else:
            src = np.asarray(raw).reshape(nf, -1)
        if self.flicker:
            bg = src[:, self.background].astype(float)
            bg[~np.isfinite(bg) | (bg >= sat)] = np.nan
            factor = background_level(bg) / self.bg_ref
            if not np.all(factor > 0):  # also catches NaN: a frame with no valid background pixel
                k = int(np.flatnonzero(~(factor > 0))[0])
                raise LithmapError(f"frame {first + k} has background level "
                                   f"{factor[k] * self.bg_ref:g}; flicker cannot be normalised by it")
        else:
            factor = np.ones(nf)
        shape = (nf, src.shape[1])
        out_i = np.empty(shape, dtype) if intensity is None else intensity.reshape(shape)
        out_tc = np.empty(shape, dtype) if total_contrast is None else total_contrast.reshape(shape)
        ring_sum, ring_cnt = np.zeros((nf, self.rings)), np.zeros((nf, self.rings), np.int64)
        int_sum, int_cnt, bad = np.zeros(nf), np.zeros(nf, np.int64), np.zeros(nf, np.int64)
        lab_sum, lab_cnt = np.zeros((nf, self.n_labels)), np.zeros((nf, self.n_labels), np.int64)
        fused_contrast(src, (1.0 / factor).astype(dtype), self.inv_ref.astype(dtype, copy=False), sat, self.ring_of,
                       self.lab_of, out_i, out_tc, ring_sum, ring_cnt, int_sum, int_cnt, lab_sum, lab_cnt, bad)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = {
                "intensity": out_i.reshape(raw.shape), "total_contrast": out_tc.reshape(raw.shape),
                "trace": int_sum / int_cnt, "ring": ring_sum / ring_cnt, "factor": factor,
                "mean_tc": ring_sum.sum(axis=1) / ring_cnt.sum(axis=1),
                "bad": bad,
                "kymograph": sample_line(out_tc.reshape(raw.shape), self.line_pixels, self.line_weights),
            }
            if self.labels is not None:
                out["particles"] = lab_sum / lab_cnt
        return out


def contrast_movie(movie: xr.DataArray, *, reference: int = 0, mask=None, register: bool = True,
                   flicker: bool = True, rings: int = 5, line="major", particles: bool = False,
                   saturation: float | None = None, chunk_frames: int = 16, dtype=np.float32,
                   workers: int | None = None, progress=None) -> xr.Dataset:
    """Total-contrast analysis of an operando movie (Xu, Merryweather et al., Joule 2022).

    Parameters
    ----------
    movie : xarray.DataArray (time, y, x)
        The movie, from :func:`lithmap.read_movie` (numpy- or Dask-backed): its ``time``
        coordinate gives the frame times (s, strictly increasing), its ``pixel_size`` attr or
        ``x`` coordinate (m) the pixel size; read ``chunk_frames`` frames at a time.
    reference : int
        Reference frame (the start of the cycle): ``total_contrast`` = I_t / I_ref − 1.
    mask : array_like or xarray.DataArray (y, x), optional
        The particle (:func:`lithmap.read_mask`; a non-boolean array by lithmap's mask rule,
        above half its maximum); default: the largest bright region of the reference frame.
    register, flicker : bool
        Remove drift (phase correlation, as :func:`register_stack`) and lamp/camera flicker
        (each frame divided by its background median relative to the reference's).
    rings : int
        Equal-area rings from the edge inward for ``ring_contrast``, ``centre_contrast`` and the
        core–periphery ``heterogeneity`` (outermost minus innermost ring).
    line : "major", "minor" or ((y0, x0), (y1, x1))
        Line (pixels) for the ``kymograph`` of total contrast (Xu, Merryweather et al., Joule 2022, Fig. 3E).
    particles : bool
        Label every particle of the reference frame (``particle``) and add their whole-particle
        traces ``particle_intensity_normalised`` (time, particle).
    saturation : float, optional
        Pixels at or above this count (default: the dtype's maximum for integer stacks) and NaN
        pixels are masked (NaN in the maps, left out of the traces) and counted in ``bad_pixels``.
    chunk_frames, workers : int
        Frames per chunk, and threads over chunks for an in-memory movie (default: all cores).
    dtype
        Precision of the ``intensity`` and ``total_contrast`` maps (traces are float64).
    progress : callable, optional
        Called as ``progress(done, total)`` (frames, counting the registration pass) as the
        work advances.

    Returns
    -------
    xarray.Dataset
        ``intensity``, ``total_contrast`` (time, y, x; Dask-backed when the movie is),
        ``mask`` (y, x), ``drift`` (time, axis; pixels), ``intensity_normalised``,
        ``mean_contrast``, ``flicker``, ``ring``, ``ring_contrast``, ``centre_contrast``,
        ``heterogeneity``, ``kymograph``, ``bad_pixels``; ``time`` in s, ``y``, ``x`` and
        ``distance`` in m (or pixels when the pixel size is unknown).

    Raises
    ------
    LithmapError
        A single image or one frame, times that do not increase, a reference outside the movie,
        an empty or misshapen mask, NaN or saturated pixels in the reference particle.

    Examples
    --------
    >>> import lithmap
    >>> ds = contrast_movie(lithmap.read_movie("example"))
    >>> ds.total_contrast.dims, ds.x.attrs["units"]
    (('time', 'y', 'x'), 'm')
    >>> round(float(ds.intensity_normalised[-1]), 2)      # the particle brightens as lithium leaves
    1.2

    A movie in memory needs only its frame times as a coordinate:

    >>> import numpy as np, xarray as xr
    >>> y, x = np.mgrid[0:32, 0:32]
    >>> particle = np.hypot(y - 16, x - 16) < 8
    >>> frames = np.array([300 + 1500 * particle * (1 + 0.1 * k) for k in range(4)])
    >>> movie = xr.DataArray(frames, dims=("time", "y", "x"), coords={"time": [0, 10, 20, 30]})
    >>> ds = contrast_movie(movie, register=False)
    >>> round(float(ds.intensity_normalised[-1]), 3)
    1.25
    """
    s, t, pixel_size, xy = _check_movie(movie)
    n, ny, nx = s.shape
    if np.any(np.diff(t) <= 0):
        k = int(np.flatnonzero(np.diff(t) <= 0)[0]) + 1
        raise LithmapError(f"frame times must increase (frame {k}: {t[k]!r} s after {t[k - 1]!r} s)")
    if not (isinstance(reference, (int, np.integer)) and 0 <= reference < n):
        raise LithmapError(f"reference={reference!r} is outside the movie (frames 0-{n - 1})")
    if progress is not None:
        import threading

        total, done, lock, report = n * (2 if register else 1), [0], threading.Lock(), progress

        def progress(k):
            with lock:
                done[0] += k
                report(done[0], total)
    dt = np.dtype(getattr(s, "dtype", float))
    if saturation is None and dt.kind in "ui":
        saturation = float(np.iinfo(dt).max)
    ref = _read(s, reference, reference + 1)[0]
    ref_bad = ~np.isfinite(ref) | ((ref >= saturation) if saturation is not None else False)
    drift = frame_drift(s, reference=reference, chunk_frames=chunk_frames, progress=progress) if register \
        else np.zeros((n, 2))
    filled = np.where(ref_bad, np.median(ref[~ref_bad]) if (~ref_bad).any() else 0.0, ref)  # for segmentation only
    if mask is None:
        m = particle_mask(filled)
    else:
        from ..io.masks import as_mask

        m = np.asarray(mask)
        if m.dtype != bool:  # lithmap's one mask rule: above half the maximum
            m = as_mask(m, source="mask") if m.any() else np.zeros(m.shape, bool)
        if m.shape != (ny, nx):
            raise LithmapError(f"mask has shape {m.shape}; the movie's frames are {(ny, nx)}")
        if not m.any():
            raise LithmapError("the particle mask is empty")
    if ref_bad[m].any():
        raise LithmapError(f"the reference frame {reference} has {int(ref_bad[m].sum())} NaN or saturated pixels "
                           "inside the particle; choose another reference")
    labels = find_particles(filled)[0] if particles else None
    plan = _Plan(np.where(ref_bad, np.nan, ref), m, rings=rings, line=line, flicker=flicker,
                 saturation=saturation, labels=labels)
    lazy = _is_lazy(s)
    small = {k: [] for k in ("trace", "ring", "factor", "bad", "kymograph", "particles", "mean_tc")}
    if not lazy:
        intensity = np.empty((n, ny, nx), dtype)
        tc = np.empty((n, ny, nx), dtype)
    def one(span):
        a, b = span
        if lazy:
            res = plan.process(np.asarray(s[a:b]), drift[a:b], dtype, first=a)
        else:  # straight into the output maps
            res = plan.process(np.asarray(s[a:b]), drift[a:b], dtype, intensity=intensity[a:b], total_contrast=tc[a:b],
                               first=a)
        if progress is not None:
            progress(b - a)
        return {k: v for k, v in res.items() if k in small}  # the maps are in place, or made again lazily

    spans = _chunks(n, chunk_frames)
    if isinstance(s, np.ndarray):  # the fused kernel releases the GIL: chunks in parallel threads
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(spans), workers or os.cpu_count() or 1)) as pool:
            results = list(pool.map(one, spans))
    else:  # a lazy or on-disk array: one chunk at a time, in order
        results = [one(span) for span in spans]
    for res in results:
        for k in small:
            if k in res:
                small[k].append(res[k])
    if lazy:
        intensity, tc = _lazy_maps(s, plan, drift, dtype, chunk_frames)
    trace, ring_tc, factor, bad, kymo, mean_tc = (np.concatenate(small[k]) for k in
                                                  ("trace", "ring", "factor", "bad", "kymograph", "mean_tc"))
    if not np.isfinite(trace[reference]):
        raise LithmapError("the reference frame has no valid particle pixels")
    p = 1.0 if pixel_size is None else float(pixel_size)
    unit = "pixel" if pixel_size is None else "m"
    (y0, x0), (y1, x1) = plan.line
    ds = xr.Dataset(
        {
            "intensity": (("time", "y", "x"), intensity, {"long_name": "registered, flicker-normalised intensity",
                                                          "units": "counts"}),
            "total_contrast": (("time", "y", "x"), tc, {"long_name": "I_t / I_ref - 1", "units": "1"}),
            "mask": (("y", "x"), m.astype(np.int8), {"long_name": "particle pixels"}),
            "drift": (("time", "axis"), drift, {"long_name": "drift removed (dy, dx)", "units": "pixel"}),
            "intensity_normalised": ("time", trace / trace[reference],
                                     {"long_name": "whole-particle intensity / reference", "units": "1"}),
            "mean_contrast": ("time", mean_tc, {"long_name": "mean total contrast over the particle's pixels",
                                                "units": "1"}),
            "flicker": ("time", factor, {"long_name": "background level / reference (divided out)", "units": "1"}),
            "bad_pixels": ("time", bad.astype(np.int64), {"long_name": "NaN or saturated pixels (masked)"}),
            "ring": (("y", "x"), plan.ring, {"long_name": "equal-area ring from the edge (0) inward; -1 outside"}),
            "ring_contrast": (("time", "ring_index"), ring_tc, {"long_name": "mean total contrast per ring",
                                                                "units": "1"}),
            "centre_contrast": ("time", ring_tc[:, -1],
                                {"long_name": "total contrast of the innermost ring (the centre)", "units": "1"}),
            "heterogeneity": ("time", ring_tc[:, 0] - ring_tc[:, -1],
                              {"long_name": "core-periphery index: outermost minus innermost ring contrast",
                               "units": "1"}),
            "kymograph": (("time", "distance"), kymo, {"long_name": "total contrast along the profile line",
                                                       "units": "1"}),
        },
        coords={"time": ("time", t, {"units": "s"}), "y": xy["y"], "x": xy["x"], "axis": ["y", "x"],
                "ring_index": np.arange(rings), "distance": ("distance", plan.distance * p, {"units": unit})},
        attrs={"reference_frame": int(reference), "registration": "phase correlation of silhouettes, upsample 20"
               if register else "none", "profile_line": np.array([y0, x0, y1, x1]),
               "attr_units": "profile_line (y0, x0, y1, x1) in pixel; saturation in counts",
               "saturation": float(saturation) if saturation is not None else np.nan,
               "bad_frames": int(np.count_nonzero(bad)),
               **{f"movie_{k}": str(movie.attrs[k]) for k in ("source", "format", "start_time") if k in movie.attrs},
               **({"synthetic": 1} if movie.attrs.get("synthetic") else {})},
    )
    if labels is not None:
        pt = np.concatenate(small["particles"])
        ds["particle"] = (("y", "x"), labels.astype(np.int32), {"long_name": "particle label (0 = matrix)"})
        ds["particle_intensity_normalised"] = (("time", "particle_index"), pt / pt[reference],
                                               {"long_name": "per-particle intensity / reference", "units": "1"})
        ds = ds.assign_coords(particle_index=np.arange(1, pt.shape[1] + 1))
    return ds


def _lazy_maps(stack, plan, drift, dtype, chunk_frames):
    """``intensity`` and ``total_contrast`` as Dask arrays computed chunk by chunk from ``stack``.
    Each map has its own tasks (the fused pass is cheap next to reading and writing): tasks
    shared by two outputs would let the scheduler hold one map's blocks until the other is
    written, and memory would grow with the movie."""
    import dask.array as da
    from dask.base import tokenize

    s = stack.rechunk({0: chunk_frames, 1: -1, 2: -1})

    def make(key):
        def block(frames, block_info=None):
            a, b = block_info[0]["array-location"][0]
            return plan.process(np.asarray(frames), drift[a:b], dtype, first=a)[key]
        token = tokenize(s.name, key, drift, np.dtype(dtype).str, plan.token)
        return da.map_blocks(block, s, dtype=dtype, name=f"lithmap-{key}-{token}")

    return make("intensity"), make("total_contrast")
