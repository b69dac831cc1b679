"""Reconstruction of a parallel-beam tilt series (tilt about ``y``): a volume (z, y, x) from its
projections (angle, y, x), or a spectral volume (energy, z, y, x) from (energy, angle, y, x), which
``lithmap lcf``, ``shells``, ``pores``, ``composition`` and ``clusters`` read as they are.

Methods
-------
``sirt``
    Simultaneous iterative reconstruction (Gilbert 1972; Gregor & Benson 2008's row/column
    normalisation), with ordered subsets of interleaved angles (one subset is classic SIRT, one
    angle per subset is SART, Andersen & Kak 1984), non-negativity and a support constraint
    after every update. The support is by default the *visual hull*: the voxels whose rays are
    not empty in any projection. Against the missing wedge of a ±65° series it removes most of
    the elongation along the beam that FBP and unconstrained iterations leave.
``fbp``
    Filtered back-projection (ramp filter, each angle weighted by its share of the tilt range);
    fast, linear, no constraints.
``mbir``
    Model-based iterative reconstruction with a q-GGMRF prior by svmbir (Purdue; Balke, Bouman
    et al.), when it is installed (``pip install svmbir``): slower, least noisy.

Why this engine (see benchmarks/bench_reconstruct.py): the slices of a tilt series share one
geometry, so :mod:`lithmap.tomo.projector` builds one sparse system matrix and applies it to all
slices and energies at once with scipy.sparse; a 256³ volume from 131 projections then costs
1.9 s per SIRT sweep on one CPU, against per-slice loops in scikit-image (``iradon_sart``,
0.5 s per slice and sweep, no batching) and in astra-toolbox's CPU algorithms (whose pip wheel
also brings ~700 MB of CUDA libraries and is not built for every platform). Both stay the
references the tests and the benchmark compare with; nothing beyond numpy/scipy is needed.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.units import optional_quantity

__all__ = ["reconstruct", "check_projections", "transmission_to_absorbance"]

METHODS = ("sirt", "fbp", "mbir")
MIN_TILT_RANGE = 20.0  # degrees
DEFAULT_ITERATIONS = {"sirt": 30, "mbir": 50}
DEFAULT_SUBSETS = 10


def check_projections(projections, angles=None) -> xr.DataArray:
    """Projections as a DataArray (…, angle, y, x) sorted by angle, after the checks every
    reconstruction needs: at least two projections, angles that match the stack, finite values,
    distinct angles spanning ≥ 20°.

    Parameters
    ----------
    projections : xarray.DataArray or array_like
        (angle, y, x) or (energy, angle, y, x); a DataArray's ``angle`` coordinate (degrees) is
        used unless ``angles`` is given.
    angles : array_like, optional
        Tilt angles in degrees, one per projection.

    Returns
    -------
    xarray.DataArray
        float32 projections, dims (energy,) angle, y, x, sorted by ``angle``.

    Raises
    ------
    LithmapError
        One line naming what is wrong.

    Examples
    --------
    >>> p = check_projections(np.ones((3, 4, 5)), angles=[30, -30, 0])
    >>> p["angle"].values.tolist(), p.dims
    ([-30.0, 0.0, 30.0], ('angle', 'y', 'x'))
    >>> check_projections(np.ones((3, 4, 5)), angles=[0, 5, 10])
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: the tilt range is 10° (0° to 10°); a reconstruction needs at least 20°
    """
    if isinstance(projections, xr.DataArray):
        da = projections
        need = {"angle", "y", "x"}
        if not need <= set(da.dims) or da.ndim not in (3, 4) or (da.ndim == 4 and "energy" not in da.dims):
            raise LithmapError(f"projections have dims {da.dims}; expected (angle, y, x) or (energy, angle, y, x)")
        da = da.transpose(*[d for d in ("energy", "angle", "y", "x") if d in da.dims])
    else:
        a = np.asarray(projections)
        if a.ndim not in (3, 4):
            raise LithmapError(f"projections have shape {a.shape}; expected (angle, y, x) or (energy, angle, y, x)")
        da = xr.DataArray(a, dims=("angle", "y", "x") if a.ndim == 3 else ("energy", "angle", "y", "x"))
    n = da.sizes["angle"]
    if n < 2:
        raise LithmapError(f"the tilt series has {n} projection; a reconstruction needs at least two angles")
    if angles is None:
        if "angle" not in da.coords:
            raise LithmapError("the projections have no tilt angles; give angles (degrees), one per projection")
        ang = np.asarray(da["angle"].values, float)
        if da["angle"].attrs.get("units", "degree") in ("rad", "radian", "radians"):
            ang = np.rad2deg(ang)
    else:
        ang = np.asarray(angles, float).ravel()
    if ang.size != n:
        raise LithmapError(f"{ang.size} angles for {n} projections; give one angle per projection")
    if not np.all(np.isfinite(ang)):
        raise LithmapError(f"the angle {ang[~np.isfinite(ang)][0]!r} is not a finite number of degrees")
    uniq, counts = np.unique(ang, return_counts=True)
    if (counts > 1).any():
        raise LithmapError(f"the angle {uniq[counts > 1][0]:g}° appears {counts[counts > 1][0]} times; angles "
                           "must be distinct")
    span = float(ang.max() - ang.min())
    if span < MIN_TILT_RANGE:
        raise LithmapError(f"the tilt range is {span:g}° ({ang.min():g}° to {ang.max():g}°); a reconstruction needs "
                           f"at least {MIN_TILT_RANGE:g}°")
    if span > 360:
        raise LithmapError(f"the tilt range is {span:g}°; angles must be in degrees, within one turn")
    values = np.asarray(da.values)
    if values.dtype.kind not in "biuf":
        raise LithmapError(f"projections are {values.dtype}; expected numbers")
    bad = ~np.isfinite(values)
    if bad.any():
        where = np.unravel_index(np.argmax(bad), values.shape)
        raise LithmapError(f"the projections have {int(bad.sum())} non-finite values (the first at "
                           f"{dict(zip(da.dims, (int(i) for i in where)))})")
    order = np.argsort(ang, kind="stable")
    out = da.copy(data=values.astype(np.float32, copy=False)).isel(angle=order)
    return out.assign_coords(angle=("angle", ang[order], {"units": "degree", "long_name": "tilt angle about y"}))


def _border(values):
    """The frame's edges of every projection (…, y, x) → (…, pixels): the empty beam around an
    isolated particle."""
    ny, nx = values.shape[-2:]
    w = max(1, min(ny, nx) // 32)
    return np.concatenate([values[..., :w, :].reshape(*values.shape[:-2], -1),
                           values[..., -w:, :].reshape(*values.shape[:-2], -1),
                           values[..., w:-w, :w].reshape(*values.shape[:-2], -1),
                           values[..., w:-w, -w:].reshape(*values.shape[:-2], -1)], axis=-1)


def _check_signal(values) -> None:
    """Refuse projections that are plainly not optical densities of a particle in an empty beam.

    On the sum over energies: the background is the median of each projection's border; the
    particle's signal is the 99.5th percentile of |projection − background|; the *significant*
    pixels are those more than a tenth of it from the background. Refused: transmitted
    intensity (a background far from zero, at least half the signal, and a particle darker than
    it), and mostly negative projections (negated optical densities)."""
    v = np.asarray(values, np.float32)
    tot = v.reshape(-1, *v.shape[-3:]).sum(axis=0) if v.ndim == 4 else v  # (angle, y, x)
    bg = np.median(_border(tot), axis=-1)  # per projection
    s = tot - bg[:, None, None]
    signal = float(np.percentile(np.abs(s), 99.5))
    level = float(np.median(bg))
    if not signal > 0:
        if level == 0:
            raise LithmapError("the projections are all zero: nothing to reconstruct")
        raise LithmapError(f"the projections are constant ({level:.4g}): no particle to reconstruct")
    big = np.abs(s) > 0.1 * signal
    dark = float(np.mean(s[big] < 0))
    if level > 0.5 * signal and dark > 0.5:
        raise LithmapError(f"the projections look like transmitted intensity (border {level:.4g}, the particle darker, "
                           f"down to {float(tot.min()):.4g}): give absorbance −ln(I/I0), or let lithmap take it with "
                           "--transmission (I0 from each projection's border) or --i0 COUNTS (transmission=True, "
                           "i0= in Python)")
    vals = tot[np.abs(tot) > 0.1 * float(np.abs(tot).max())]
    negative = float(np.mean(vals < 0))
    if negative > 0.5:
        raise LithmapError("the projections are mostly negative: give absorbance (optical density, −ln(I/I0)), not "
                           f"its negative ({100 * negative:.0f} % of the particle's pixels are below zero)")


def transmission_to_absorbance(projections, i0=None) -> xr.DataArray:
    """Optical density −ln(I/I0) of transmitted intensities (…, angle, y, x).

    Parameters
    ----------
    projections : xarray.DataArray
        Transmitted intensity (counts or I/I0), (angle, y, x) or (energy, angle, y, x).
    i0 : float, optional
        The incident (open-beam) intensity; default each projection's (and energy's) own
        background: the median of its border, the frame's edges, which must be empty beam.

    Returns
    -------
    xarray.DataArray
        float32 optical densities, attrs ``i0`` (the rule or the value) added.

    Raises
    ------
    LithmapError
        Intensities ≤ 0 (no logarithm), or an ``i0`` that is not a positive number.

    Examples
    --------
    >>> import xarray as xr
    >>> i = xr.DataArray(np.full((2, 8, 8), 1000.0), dims=("angle", "y", "x"))
    >>> i[:, 3:5, 3:5] = 1000 * np.exp(-0.5)
    >>> float(transmission_to_absorbance(i).max().round(3))
    0.5
    """
    da = projections if isinstance(projections, xr.DataArray) else xr.DataArray(np.asarray(projections))
    v = np.asarray(da.values, np.float64)
    if not (v > 0).all():
        raise LithmapError(f"{int((v <= 0).sum())} transmitted intensities are ≤ 0 (the least {v.min():.4g}); "
                           "−ln(I/I0) needs positive intensities (subtract no dark current below zero)")
    if i0 is None:
        ref = np.median(_border(v), axis=-1)[..., None, None]
        rule = "median of each projection's border"
    else:
        try:
            ref = float(i0)
        except (TypeError, ValueError):
            raise LithmapError(f"i0={i0!r} is not a number (the open-beam intensity)") from None
        if not (np.isfinite(ref) and ref > 0):
            raise LithmapError(f"i0={i0!r} must be a positive intensity (the open beam's)")
        rule = f"{ref:g}"
    out = da.copy(data=(-np.log(v / ref)).astype(np.float32))
    out.attrs = {**da.attrs, "long_name": "optical density", "units": "1", "i0": rule}
    return out


def _angle_weights(ang_deg):
    """Each angle's share of the tilt range (radians): half the gaps to its neighbours."""
    a = np.deg2rad(np.asarray(ang_deg, float))
    edges = np.concatenate([[a[0] - (a[1] - a[0]) / 2], (a[1:] + a[:-1]) / 2, [a[-1] + (a[-1] - a[-2]) / 2]])
    return np.diff(edges)


def _ramp(n_t: int):
    """The ramp filter in Fourier space from the band-limited spatial kernel (no DC offset), on
    2·n_t zero-padded samples (as scikit-image's iradon)."""
    size = max(64, int(2 ** np.ceil(np.log2(2 * n_t))))
    k = np.concatenate([np.arange(1, size // 2 + 1, 2), np.arange(size // 2 - 1, 0, -2)])
    f = np.zeros(size)
    f[0] = 0.25
    f[1::2] = -1 / (np.pi * k) ** 2
    return 2 * np.real(np.fft.rfft(f)), size


def _fbp(P, b, ang, n_t, cols):
    """b: (angles, t, cols) → (voxels, cols)."""
    filt, size = _ramp(n_t)
    spec = np.fft.rfft(b, n=size, axis=1) * filt[None, :, None]
    q = np.fft.irfft(spec, n=size, axis=1)[:, :n_t].astype(np.float32)
    q *= (_angle_weights(ang) / 2).astype(np.float32)[:, None, None]
    return P.backproject(q.reshape(-1, cols))


def _visual_hull(P, b, ny, level: float = 0.03, tolerance: float = 1.0):
    """Voxels (voxels, y) whose footprint is inside the particle's silhouette in every projection
    (up to ``tolerance`` projections' worth of empty rays). The silhouette of a projection:
    above ``level`` of the range between the background (median of the outer columns) and the
    99.9th percentile, after a Gaussian blur of one pixel."""
    from scipy import ndimage

    n_ang, n_t = b.shape[0], b.shape[1]
    total = b.reshape(n_ang, n_t, -1, ny).sum(axis=2)  # sum over energies: (angle, t, y)
    smooth = ndimage.gaussian_filter(total, sigma=(0, 1, 1))
    edge = max(1, n_t // 16)
    background = float(np.median(np.concatenate([smooth[:, :edge], smooth[:, -edge:]], axis=1)))
    top = float(np.percentile(smooth, 99.9))
    if not top > background:
        return np.ones((P.n_voxels, ny), bool)
    empty = (smooth <= background + level * (top - background)).astype(np.float32)
    misses = P.backproject(empty.reshape(-1, ny))
    return misses < tolerance


def _field_of_view(P):
    """Voxels every projection sees whole (their footprint on the detector at every angle)."""
    seen = P.backproject(np.ones((P.n_rays, 1), np.float32))[:, 0]
    return seen >= sum(len(r) for r in P.rows) - 1e-3


def _sirt(P, b, x, mask, iterations, relax, progress, done0, total):
    """Ordered-subset SIRT with non-negativity and a support ``mask`` (voxels, 1, y) on x (voxels, lead, y)."""
    n_t = P.n_t
    cols = b.shape[-1]
    b3 = b.reshape(-1, n_t, cols)
    parts = []
    for a, bt, rows in zip(P.forward, P.back, P.rows):
        row_sum = np.asarray(a.sum(axis=1), np.float32)
        col_sum = np.asarray(bt.sum(axis=1), np.float32)
        inv_r = np.divide(1, row_sum, out=np.zeros_like(row_sum), where=row_sum > 1e-6)
        inv_c = np.divide(relax, col_sum, out=np.zeros_like(col_sum), where=col_sum > 1e-6)
        parts.append((a, bt, np.ascontiguousarray(b3[rows].reshape(-1, cols)), inv_r, inv_c))
    flat = x.reshape(P.n_voxels, cols)
    for it in range(iterations):
        for a, bt, bj, inv_r, inv_c in parts:
            r = bj - a @ flat
            r *= inv_r
            u = bt @ r
            u *= inv_c
            flat += u
            np.maximum(flat, 0, out=flat)
            x *= mask
        if progress is not None:
            progress(done0 + it + 1, total)
    return x


def _mbir(b, ang, lead, ny, n_t, iterations, mask3):
    try:
        import svmbir
    except ImportError:
        raise LithmapError("method 'mbir' needs svmbir (pip install svmbir); use 'sirt' or 'fbp'") from None
    # svmbir wants (views, slices, channels); its angle runs the other way round and its image is
    # transposed against ours (checked against the phantoms in tests/test_tomo.py)
    out = []
    for e in range(lead):
        s = np.ascontiguousarray(b.reshape(len(ang), n_t, lead, ny)[:, :, e, :].transpose(0, 2, 1), dtype=np.float64)
        r = svmbir.recon(s, np.deg2rad(ang), num_rows=n_t, num_cols=n_t, positivity=True,
                         max_iterations=iterations, verbose=0)
        out.append(np.transpose(r, (2, 0, 1)))  # (slice=y, row, col) → (z, y, x) with z = col, x = row
    vol = np.stack(out).astype(np.float32)  # (lead, z, y, x)
    return vol * mask3[None]


def _particle_mask(vol):
    """The particle of a reconstruction (lead, z, y, x): voxels above the Otsu threshold of the mean
    over ``lead``, enclosed holes filled. Returns (mask (z, y, x) of bool, threshold)."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    dens = np.asarray(vol, np.float32).mean(axis=0)
    if not dens.max() > dens.min():
        return np.zeros(dens.shape, bool), float(dens.max())
    thr = float(threshold_otsu(dens))
    return ndimage.binary_fill_holes(dens > thr), thr


def reconstruct(projections, *, angles=None, pixel_size=None, method: str = "sirt", align: bool = False,
                iterations: int | None = None, support="hull", subsets: int | None = None,
                transmission: bool = False, i0=None, progress=None) -> xr.Dataset:
    """Reconstruct a parallel-beam tilt series (tilt about ``y``) slice by slice.

    Parameters
    ----------
    projections : xarray.DataArray or array_like
        Optical densities (−ln I/I0) on (angle, y, x), or (energy, angle, y, x) for a spectral tilt
        series; a DataArray's ``angle`` coordinate (degrees), ``energy`` (eV) and ``x``/``y``
        (m) are used.
    angles : array_like, optional
        Tilt angles in degrees (default: the ``angle`` coordinate).
    pixel_size : float or str, optional
        Detector pixel (= voxel) edge in m, or a quantity (``"10nm"``); default the data's
        ``pixel_size`` attr or ``x`` step in m; without any, coordinates are in voxels.
    method : {"sirt", "fbp", "mbir"}
        See the module notes; ``mbir`` needs svmbir.
    align : bool
        First align the projections (:func:`lithmap.align_projections`: tilt axis and
        per-projection shifts); the shifts are kept in the result.
    iterations : int, optional
        SIRT sweeps through all angles (default 30) or MBIR iterations (default 50).
    support : "hull", "fov", array_like of bool or None
        Where the volume may be non-zero (SIRT and MBIR): ``"hull"`` (default) the visual hull of
        the projections within the field of view; ``"fov"`` / None the field of view (the voxels
        that every projection sees); or a mask (z, y, x).
    subsets : int, optional
        SIRT's ordered subsets of interleaved angles per sweep (default 10; 1 = classic SIRT).
    transmission : bool
        The projections are transmitted intensities: take −ln(I/I0) first
        (:func:`lithmap.transmission_to_absorbance`), I0 the median of each projection's border.
    i0 : float, optional
        The open-beam intensity I0 of transmitted projections (implies ``transmission``).
    progress : callable, optional
        Called as ``progress(done, total)`` after each sweep.

    Returns
    -------
    xarray.Dataset
        ``volume`` (z, y, x), or ``absorbance`` (energy, z, y, x) for a spectral series: optical
        density per voxel (units "1"; divide by the voxel size for the attenuation coefficient),
        float32, on coordinates ``z``, ``y``, ``x`` in m (or voxels) with ``z`` along the beam at
        angle 0; attrs ``method``, ``iterations``, ``angle_min``/``angle_max`` (degrees),
        ``n_angles``, ``pixel_size`` and ``support``; ``mask`` (z, y, x; int8, 1 = particle):
        the Otsu threshold of the volume (of its mean over energies) with enclosed holes filled,
        which ``lithmap shells``, ``lcf --mask`` and ``clusters --mask`` read. With ``align``,
        also ``shift_x``, ``shift_y`` (angle; m or pixels; the smallest shifts that align the
        series, so the volume sits in the input's frame) and the attr ``tilt_axis_offset``.

    Raises
    ------
    LithmapError
        Bad input (see :func:`lithmap.check_projections`), an unknown method, a support of
        the wrong shape.

    Examples
    --------
    >>> import lithmap as lm
    >>> ph = lm.particle_phantom(24, inclusions=0, pixel_size="10nm")
    >>> tilt = lm.project(ph["volume"], np.arange(-65, 66, 5.0))
    >>> ds = lm.reconstruct(tilt, iterations=10)
    >>> ds["volume"].dims, ds["volume"].shape, ds["x"].attrs["units"]
    (('z', 'y', 'x'), (24, 24, 24), 'm')
    """
    from ..io.images import pixel_size_of
    from .projector import build_projector

    if method not in METHODS:
        raise LithmapError(f"method={method!r}; use one of {', '.join(METHODS)}")
    if iterations is not None and not (isinstance(iterations, (int, np.integer)) and iterations >= 1):
        raise LithmapError(f"iterations={iterations!r} must be a whole number ≥ 1")
    if subsets is not None and not (isinstance(subsets, (int, np.integer)) and subsets >= 1):
        raise LithmapError(f"subsets={subsets!r} must be a whole number ≥ 1")
    p = check_projections(projections, angles)
    px = optional_quantity(pixel_size, "m", name="pixel_size", positive=True)
    if px is None:
        px = pixel_size_of(p)
    if transmission or i0 is not None:
        p = transmission_to_absorbance(p, i0)
    _check_signal(p.values)
    spectral = "energy" in p.dims
    shifts = None
    if align:
        from .align import align_projections

        p = align_projections(p)
        shifts = p
    ang = p["angle"].values
    lead = p.sizes.get("energy", 1)
    ny, n_t = p.sizes["y"], p.sizes["x"]
    nz = nx = n_t
    iterations = iterations or DEFAULT_ITERATIONS.get(method, 1)
    n_sub = 1 if method != "sirt" else (subsets or DEFAULT_SUBSETS)
    P = build_projector(nz, nx, n_t, np.deg2rad(ang), subsets=n_sub)
    vals = np.asarray(p.values, np.float32).reshape(lead, len(ang), ny, n_t)
    b = np.ascontiguousarray(vals.transpose(1, 3, 0, 2)).reshape(len(ang) * n_t, lead * ny)  # (rays, lead·y)
    del vals
    cols = lead * ny
    total = iterations if method == "sirt" else 1

    fov = _field_of_view(P)
    if isinstance(support, str) and support == "hull":
        mask = _visual_hull(P, b.reshape(len(ang), n_t, cols), ny) & fov[:, None]
        support_name = "visual hull"
    elif support is None or (isinstance(support, str) and support == "fov"):
        mask = np.repeat(fov[:, None], ny, axis=1)
        support_name = "field of view"
    elif isinstance(support, str):
        raise LithmapError(f"support={support!r}; use 'hull', 'fov' or a mask (z, y, x)")
    else:
        m = np.asarray(support, bool)
        if m.shape != (nz, ny, nx):
            raise LithmapError(f"the support mask has shape {m.shape}; the volume is {(nz, ny, nx)} (z, y, x)")
        mask = m.transpose(0, 2, 1).reshape(nz * nx, ny)
        support_name = "given mask"

    if method == "fbp":
        x = _fbp(P, b.reshape(len(ang), n_t, cols), ang, n_t, cols).reshape(nz * nx, lead, ny)
        support_name = "none"
        if progress is not None:
            progress(1, 1)
    elif method == "sirt":
        x = np.zeros((nz * nx, lead, ny), np.float32)
        x = _sirt(P, b, x, mask[:, None, :].astype(np.float32), iterations, 1.0, progress, 0, total)
    else:
        vol = _mbir(b, ang, lead, ny, n_t, iterations, mask.reshape(nz, nx, ny).transpose(0, 2, 1))
        x = vol.transpose(1, 3, 0, 2).reshape(nz * nx, lead, ny)
        if progress is not None:
            progress(1, 1)
    vol = x.reshape(nz, nx, lead, ny).transpose(2, 0, 3, 1)  # (lead, z, y, x)
    step = px or 1.0
    unit = "m" if px else "pixel"
    coords = {d: (d, np.arange(n) * step, {"units": unit}) for d, n in zip(("z", "y", "x"), (nz, ny, nx))}
    for d in ("y", "x"):  # keep the detector's own coordinates when they are in m
        if px and d in p.coords and p[d].attrs.get("units") == "m" and p.sizes[d] == len(coords[d][1]):
            coords[d] = (d, np.asarray(p[d].values, float), {"units": "m"})
    attrs_v = {"long_name": "optical density per voxel", "units": "1",
               **({"pixel_size": float(px), "pixel_size_m": float(px)} if px else {})}
    if spectral:
        coords["energy"] = ("energy", np.asarray(p["energy"].values, float),
                            {"units": p["energy"].attrs.get("units", "eV")})
        data = {"absorbance": (("energy", "z", "y", "x"), np.ascontiguousarray(vol), attrs_v)}
    else:
        data = {"volume": (("z", "y", "x"), np.ascontiguousarray(vol[0]), attrs_v)}
    attrs = {"method": method, "iterations": int(iterations) if method != "fbp" else 0,
             "subsets": int(n_sub) if method == "sirt" else 0, "n_angles": int(len(ang)),
             "angle_min": float(ang.min()), "angle_max": float(ang.max()), "support": support_name,
             "geometry": "parallel beam, tilt about y; z along the beam at angle 0",
             **({"pixel_size": float(px)} if px else {})}
    particle, threshold = _particle_mask(vol)
    data["mask"] = (("z", "y", "x"), particle.astype(np.int8),
                    {"long_name": "particle", "threshold": threshold,
                     "rule": "Otsu threshold of the volume" + (" (mean over energies)" if spectral else "")
                     + ", enclosed holes filled (voids inside count as particle)"})
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    if shifts is not None:
        for k in ("shift_x", "shift_y"):
            ds[k] = ("angle", shifts[k].values * step, {"units": unit, "long_name": f"{k[-1]} shift applied"})
        ds = ds.assign_coords(angle=("angle", ang, {"units": "degree"}))
        ds.attrs["tilt_axis_offset"] = float(shifts.attrs["tilt_axis_offset"]) * step
    return ds
