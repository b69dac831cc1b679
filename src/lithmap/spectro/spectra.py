"""X-ray absorption spectra: pre-processing for linear-combination fitting.

The readers (XDI, Athena .prj, text, TIFF stacks, NetCDF/HDF5) are in :mod:`lithmap.io.spectra`;
what they return (``mu`` on an ``energy`` coordinate in eV) is what these functions take.

- :func:`normalise`: pre-edge line and post-edge polynomial extrapolated to e0 give the edge
  step, with the ranges, orders and fall-backs of Athena/Larch's ``pre_edge``; vectorised over
  any number of spectra (pixels);
- :func:`find_e0`: the edge energy of each spectrum (largest smoothed derivative, or Larch's rule);
- :func:`align`: energy shift between two reference-channel spectra (least squares of the
  derivatives over the shift);
- :func:`edge_mask`: the particle of a map (pixels with an edge; Otsu on log edge step), the one
  rule of ``lcf``, ``clusters`` and ``shells``;
- :func:`select_window`, :func:`interpolate_standards`: the fitting window and the standards on
  the sample's energy grid, never extrapolated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.spectra import _energy_coord, check_energies

# ---------------------------------------------------------------------------------------------
# pre-processing


def _as_energy_last(mu, energy, axis):
    """``(array (N, n), energy (n,), restore)`` for an array with the energy on ``axis``."""
    a = np.asarray(mu)
    if a.ndim == 0:
        raise LithmapError("mu is a scalar; expected spectra with an energy axis")
    axis = axis % a.ndim
    e = check_energies(energy, "energy")
    if a.shape[axis] != e.size:
        raise LithmapError(f"mu has {a.shape[axis]} values along axis {axis} but there are {e.size} energies")
    moved = np.moveaxis(a, axis, -1)
    lead = moved.shape[:-1]
    flat = moved.reshape(-1, e.size).astype(np.float64, copy=False)

    def restore(x2):
        return np.moveaxis(x2.reshape(lead + (e.size,)), -1, axis)

    return flat, e, lead, restore


def _energy_of(mu: xr.DataArray, energy, dim: str, what: str):
    """``(axis, energies)`` of a DataArray's energy dim ``dim`` (its coordinate, else ``energy``)."""
    if dim not in mu.dims:
        raise LithmapError(f"mu has dims {mu.dims}; expected an {dim!r} dim")
    if dim in mu.coords:
        energy = mu[dim].values
    elif energy is None:
        raise LithmapError(f"{what} needs the energies: mu has no {dim!r} coordinate and energy= is not given")
    return mu.dims.index(dim), energy


def _other_dims(mu: xr.DataArray, dim: str, values, attrs) -> xr.DataArray:
    other = [d for d in mu.dims if d != dim]
    coords = {k: v for k, v in mu.coords.items() if dim not in v.dims}
    return xr.DataArray(values, dims=other, coords=coords, attrs=attrs)


def find_e0(mu, energy=None, *, dim: str = "energy", smooth: float = 2.0, method: str = "derivative"):
    """Edge energy (eV) of each spectrum.

    e0 is where dmu/dE, smoothed by a Gaussian of ``smooth`` eV (standard deviation), is
    largest; the outermost 5 % of points at either end (where glitches sit) are not considered.
    The smoothing keeps e0 on the main edge when a shoulder or the noise gives a second, nearly
    as steep, rise. NaN for spectra with NaN.

    ``method="larch"`` finds e0 as Larch's ``find_e0`` does instead (the steepest point of the
    raw derivative whose neighbours are steep too, refined on the derivative smoothed by a
    ~0.3 eV Lorentzian; ignoring NaN): the same energy as Larch/Athena to the grid point (checked
    on the real Mn standards), one spectrum at a time (~0.3 ms each), for standards and
    single spectra.

    Parameters
    ----------
    mu : xarray.DataArray or array_like
        Spectra: a DataArray with the energy dim ``dim`` (anywhere), or an array with the
        energy on its last axis.
    energy : array_like, optional
        Energies in eV (not needed for a DataArray with an energy coordinate).
    dim : str
        The energy dim of a DataArray.
    smooth : float
        Standard deviation (eV) of the Gaussian that smooths the derivative (0: none); for
        ``method="derivative"``.
    method : {"derivative", "larch"}
        The vectorised smoothed-derivative maximum, or Larch's rule.

    Returns
    -------
    xarray.DataArray or numpy.ndarray
        e0 in eV, one per spectrum (the input's other dims).

    Examples
    --------
    >>> import lithmap
    >>> mu = lithmap.read_spectra(lithmap.example_file("MnO_rt_01.xdi"))["mu"]
    >>> round(float(find_e0(mu)), 1)
    6544.3
    >>> round(float(find_e0(mu, method="larch")), 3)  # Larch 2026.3: 6544.014
    6544.014
    >>> e = np.linspace(6500, 6600, 101)
    >>> float(find_e0(np.tanh((e - 6550) / 3), e))
    6550.0
    """
    if method not in ("derivative", "larch"):
        raise LithmapError(f"method={method!r} is invalid; expected 'derivative' or 'larch'")
    if isinstance(mu, xr.DataArray):
        ax, e = _energy_of(mu, energy, dim, "find_e0")
        flat, e, lead, _ = _as_energy_last(mu.values, e, ax)
        return _other_dims(mu, dim, _find_e0(flat, e, smooth, method).reshape(lead),
                           {"units": "eV", "long_name": "edge energy e0"})
    if energy is None:
        raise LithmapError("find_e0 needs the energies (eV) for an array of spectra")
    flat, e, lead, _ = _as_energy_last(mu, energy, -1)
    return _find_e0(flat, e, smooth, method).reshape(lead)


def _find_e0(flat, e, smooth=2.0, method="derivative"):
    if method == "larch":
        return np.array([_find_e0_larch(e, row) for row in flat], dtype=float)
    n = e.size
    d = np.gradient(flat, e, axis=1)
    if smooth and smooth > 0:
        K = np.exp(-0.5 * ((e[:, None] - e[None, :]) / smooth) ** 2)
        K *= np.gradient(e)[None, :]  # quadrature weights on a non-uniform grid
        K /= K.sum(axis=1, keepdims=True)
        d = d @ K.T
    m = max(1, n // 20) if n >= 10 else 0
    core = d[:, m:n - m] if m else d
    bad = ~np.isfinite(core).all(axis=1)
    idx = np.argmax(np.where(np.isfinite(core), core, -np.inf), axis=1) + m
    e0 = e[idx].astype(float)
    e0[bad] = np.nan
    return e0


def _larch_smooth(x, y, sigma, xstep):
    """Larch's ``smooth`` (Lorentzian, as ``_finde0`` calls it): y on a uniform grid of step
    ``xstep``, convolved with a Lorentzian of half-width ``sigma``, back on ``x``."""
    npad = 5
    xmin = xstep * int((x.min() - npad * xstep) / xstep)
    xmax = xstep * int((x.max() + npad * xstep) / xstep)
    npts = min(1 + int(abs(xmax - xmin + xstep * 0.1) / xstep), 50 * x.size)
    x0 = np.linspace(xmin, xmax, npts)
    y0 = np.interp(x0, x, y)
    s = sigma / xstep
    wx = np.arange(2 * npts)
    win = (s / np.pi) / ((wx - npts) ** 2 + s**2)
    y1 = np.concatenate((y0[npts:0:-1], y0, y0[-1:-npts - 1:-1]))
    y2 = np.convolve(win / win.sum(), y1, mode="valid")
    if y2.size > x0.size:
        y2 = y2[(y2.size - x0.size) // 2:][:x0.size]
    return np.interp(x, x0, y2)


def _larch_e0_step(en, mu, estep, use_smooth):
    n = en.size
    d = np.gradient(mu) / np.gradient(en)
    if use_smooth:
        d = _larch_smooth(en, d, estep, estep)
    d = np.where(np.isfinite(d), d, -1.0)
    nmin = max(3, int(n * 0.02))
    core = d[nmin:-nmin]
    d = (d - core.min()) / max(1e-10, np.ptp(core))
    dhigh = 0.60 if n > 20 else 0.30
    high = np.flatnonzero(d > dhigh)
    if high.size < 3:
        for _ in range(2):
            if high.size > 3:
                break
            dhigh *= 0.5
            high = np.flatnonzero(d > dhigh)
    if high.size < 3:
        high = np.flatnonzero(np.isfinite(d))
    hs = set(high.tolist())
    imax, dmax = 0, 0.0
    for i in high:
        if nmin <= i <= n - nmin and d[i] > dmax and (i + 1) in hs and (i - 1) in hs:
            imax, dmax = int(i), d[i]
    return imax


def _find_e0_larch(e, mu):
    """e0 of one spectrum as Larch's ``find_e0`` finds it: the steepest point of the raw
    derivative whose neighbours are steep too (not a one-point glitch), refined on the
    derivative smoothed by a Lorentzian of ~0.3 eV over ±75 points around it."""
    ok = np.isfinite(mu)
    e, mu = e[ok], mu[ok]
    if e.size < 10:
        return np.nan
    nskip = int(0.01 * e.size)  # Larch's find_energy_step: skip the smallest 1 %, average the next 10
    ediff = np.sort(np.diff(e[:-1][nskip:e.size - 1 - nskip]))
    estep1 = float(ediff[nskip:nskip + 10].mean())
    ie0 = _larch_e0_step(e, mu, None, False)
    e1 = e[ie0]
    istart, istop = max(3, ie0 - 75), min(ie0 + 75, e.size - 3)
    if ie0 < 0.05 * e.size:
        e1 = e.mean()
        istart, istop = max(3, ie0 - 20), e.size - 3
    estep = 0.5 * (max(0.01, min(1.0, estep1)) + max(0.01, min(1.0, e1 / 25000.0)))
    ix = _larch_e0_step(e[istart:istop], mu[istart:istop], estep, True)
    return float(e[istart + 2] if ix < 1 else e[istart + ix])


def normalise(mu, energy=None, *, dim: str = "energy", e0=None, pre=None, norm=None, norm_order=None,
              return_edge: bool = False, flatten: bool = False):
    """Edge-step normalisation of absorption spectra as Athena/Larch's ``pre_edge`` does it,
    vectorised over any leading (pixel) dims.

    A line is fitted to mu over ``e0 + pre`` and a polynomial of order ``norm_order`` to
    mu − pre-edge line over ``e0 + norm``; the edge step is that polynomial at e0 and the result
    is (mu − pre-edge line) / edge step: 0 before the edge and about 1 after it. The defaults,
    the points each range takes and the fall-backs for short ranges are those of Larch's
    ``pre_edge`` (xraylarch 2026.3; Newville, J. Phys.: Conf. Ser. 430, 012007, 2013), so a
    spectrum normalised here matches what Athena/Larch users see (checked against Larch's
    numbers on the real Mn standards in ``tests/data/xanes-standards``).

    Parameters
    ----------
    mu : xarray.DataArray or array_like
        Spectra: a DataArray with the energy dim ``dim`` (anywhere; its coordinate gives the
        energies), or an array with the energy on its last axis.
    energy : array_like, optional
        Energies in eV (not needed for a DataArray with an energy coordinate).
    dim : str
        The energy dim of a DataArray.
    e0 : float, array_like or "larch", optional
        Edge energy in eV, one for all or one per spectrum (shape of ``mu`` without the energy
        axis). Default: per spectrum, the largest (smoothed) derivative (:func:`find_e0`,
        vectorised). ``"larch"``: per spectrum as Larch finds it (``find_e0(method="larch")``;
        with it the whole normalisation is Larch's, as :func:`lithmap.lcf_from_files` does for
        standards). For noisy maps pass a common e0 (e.g. that of the mean spectrum).
    pre, norm : (float, float), optional
        Pre-edge and normalisation ranges, eV relative to e0, clipped to the data. Default (as
        Larch): the pre-edge line from the second energy (rounded to 5 eV) to half-way to e0;
        the post-edge polynomial from min(25, (end − e0)/15 rounded to 5) eV above e0 to the end
        of the data (rounded to 5 eV): over the whole measured range.
    norm_order : {0, 1, 2}, optional
        Order of the post-edge polynomial. Default (as Larch): 2 when the normalisation range
        spans 300 eV or more, 1 from 30 eV, else 0; lowered to 1 when the range holds fewer
        than 5 energies and to 0 with fewer than 2.
    return_edge : bool
        Also return ``e0`` and ``edge_step`` (shape of ``mu`` without the energy axis).
    flatten : bool
        Return Larch's ``flat`` spectrum instead: above e0 the post-edge polynomial's shape is
        divided out, (mu − pre-edge − post-edge) / edge step + 1 (below e0 unchanged).

    Returns
    -------
    normalised : ndarray or DataArray
        Same shape as ``mu``. Spectra whose edge step is not positive (no edge: background
        pixels; or below 1e-9 of the spectrum's magnitude) are NaN.
    e0, edge_step : ndarray or DataArray
        Only with ``return_edge``.

    Raises
    ------
    LithmapError
        An explicit ``pre``/``norm`` range that holds fewer energies than its polynomial needs
        (the defaults fall back as Larch's do instead), an invalid ``norm_order``.

    Notes
    -----
    As in Larch, each range is the slice of the grid from the last energy at or below its low
    end up to (not including) the energy nearest its high end, and the edge step is taken at
    the grid energy nearest e0. With fewer than 3 energies in the pre-edge range a constant
    replaces the line.

    Examples
    --------
    >>> e = np.linspace(6500, 6700, 201)
    >>> mu = 0.2 - 1e-4 * (e - 6500) + 0.8 / (1 + np.exp(-(e - 6540) / 1.0))
    >>> out = normalise(mu, e, e0=6540.0)
    >>> round(float(out[0]), 3), round(float(out[-1]), 3)
    (0.0, 1.0)

    A measured spectrum (a DataArray keeps its coordinates and gains ``units``):

    >>> import lithmap
    >>> mu = lithmap.read_spectra(lithmap.example_file("MnO2_rt_01.xdi"))["mu"]
    >>> norm, e0, step = normalise(mu, e0="larch", return_edge=True)
    >>> norm.attrs["long_name"], round(float(e0), 3), round(float(step), 5)  # Larch: 6551.676, 0.17174
    ('normalised absorption (edge step = 1)', 6551.676, 0.17174)
    """
    if isinstance(mu, xr.DataArray):
        ax, e = _energy_of(mu, energy, dim, "normalise")
        e0v = e0.values if isinstance(e0, xr.DataArray) else e0
        out = _normalise_array(mu.values, e, e0v, pre, norm, norm_order, ax, return_edge, flatten)
        res, extra = (out[0], out[1:]) if return_edge else (out, ())
        da = mu.copy(data=res)
        long_name = "flattened normalised absorption" if flatten else "normalised absorption (edge step = 1)"
        da.attrs = {**mu.attrs, "long_name": long_name, "units": "1"}
        if not return_edge:
            return da
        e0_da = _other_dims(mu, dim, extra[0], {"units": "eV", "long_name": "edge energy e0"})
        st_da = _other_dims(mu, dim, extra[1], {"units": "1", "long_name": "edge step"})
        return da, e0_da, st_da
    if energy is None:
        raise LithmapError("normalise needs the energies (eV) for an array of spectra")
    return _normalise_array(mu, energy, e0, pre, norm, norm_order, -1, return_edge, flatten)


def _index_of(e, value):
    """Larch's ``index_of`` per spectrum: the last grid index with energy <= value (0 below the grid)."""
    return np.maximum(np.searchsorted(e, value, side="right") - 1, 0)


def _index_nearest(e, value):
    """Larch's ``index_nearest`` per spectrum: the grid index nearest value (the lower on a tie)."""
    i = np.clip(np.searchsorted(e, value, side="left"), 1, e.size - 1)
    return np.where(np.abs(e[i - 1] - value) <= np.abs(e[i] - value), i - 1, i)


def _larch_ranges(e, e0, pre, norm, norm_order):
    """Per spectrum (arrays over spectra): the pre-edge slice, its order (0/1), the post-edge
    slice, its order and the index of e0, by the rules of Larch's ``preedge``."""
    n = e.size
    ie0 = _index_nearest(e, e0)
    if pre is None:
        pre1 = np.where(ie0 > 20, 5.0 * np.round((e[1] - e0) / 5.0), 2.0 * np.round((e[1] - e0) / 2.0))
        pre1 = np.maximum(pre1, e[0] - e0)
        pre2 = 0.5 * pre1
    else:
        pre1, pre2 = np.maximum(float(pre[0]), e[0] - e0), np.full(e0.shape, float(pre[1]))
    pre1, pre2 = np.minimum(pre1, pre2), np.maximum(pre1, pre2)
    npre = np.where(_index_of(e, e0 + pre2) - _index_of(e, e0 + pre1) < 3, 0, 1)
    p1 = _index_of(e, e0 + pre1)
    p2 = _index_nearest(e, e0 + pre2)
    p2 = np.where(npre == 0, np.where(p2 == p1, p2 + 1, p2), np.where(p2 - p1 < 2, np.minimum(n, p1 + 2), p2))
    top = e[-1] - e0
    if norm is None:
        norm2 = np.minimum(5.0 * np.round(top / 5.0), top)
        norm1 = np.minimum(25.0, 5.0 * np.round(norm2 / 15.0))
    else:
        norm1, norm2 = np.full(e0.shape, float(norm[0])), np.full(e0.shape, float(norm[1]))
        norm2 = np.minimum(np.where(norm2 < 0, top - norm2, norm2), top)
    norm1, norm2 = np.minimum(norm1, norm2), np.maximum(norm1, norm2)
    norm1 = np.minimum(norm1, norm2 - 2)
    if norm_order is None:
        nnorm = np.where(norm2 - norm1 < 30, 0, np.where(norm2 - norm1 < 300, 1, 2))
    else:
        nnorm = np.full(e0.shape, int(norm_order))
    q1 = np.minimum(_index_of(e, e0 + norm1), n - 3)
    q2 = _index_nearest(e, e0 + norm2)
    few = q2 - q1 < 2
    q1 = np.where(few, q1 - 2, q1)
    nnorm = np.where(few, 0, np.where(q2 - q1 < 5, np.minimum(1, nnorm), nnorm))
    return np.stack([p1, p2, npre, q1, q2, nnorm, ie0], axis=1)


def _check_ranges(e, zz, ok, pre, norm, norm_order):
    """An explicit range must hold the points its polynomial needs (the defaults fall back as Larch's do)."""
    for name, rng, order in (("pre", pre, 1), ("norm", norm, 0 if norm_order is None else norm_order)):
        if rng is None:
            continue
        count = np.searchsorted(e, zz + rng[1], side="right") - np.searchsorted(e, zz + rng[0], side="left")
        short = np.flatnonzero(ok & (count < order + 1))
        if short.size:
            i = int(short[0])
            raise LithmapError(
                f"{name} range e0{rng[0]:+g}..e0{rng[1]:+g} eV holds {int(count[i])} energies for spectrum {i} "
                f"(e0 {zz[i]:.6g} eV, data {e[0]:.6g}-{e[-1]:.6g} eV); it needs {order + 1}; widen {name}=")


def _normalise_array(mu, energy, e0, pre, norm, norm_order, axis, return_edge, flatten=False):
    if norm_order is not None and norm_order not in (0, 1, 2):
        raise LithmapError(f"norm_order={norm_order!r} is invalid; expected 0, 1 or 2")
    for name, rng in (("pre", pre), ("norm", norm)):
        if rng is not None and (len(rng) != 2 or not rng[0] < rng[1]):
            raise LithmapError(f"{name}={tuple(rng)!r} is invalid; expected (lo, hi) in eV relative to e0 with lo < hi")
    flat, e, lead, restore = _as_energy_last(mu, energy, axis)
    npix = flat.shape[0]
    if e0 is None or (isinstance(e0, str) and e0 == "larch"):
        e0v = _find_e0(flat, e, method="derivative" if e0 is None else "larch")
    elif isinstance(e0, str):
        raise LithmapError(f"e0={e0!r} is invalid; expected a number of eV, one per spectrum, None or 'larch'")
    else:
        e0v = np.broadcast_to(np.asarray(e0, float), lead).reshape(-1) if np.ndim(e0) else np.full(npix, float(e0))
    ok = np.isfinite(e0v)
    zz = np.where(ok, e0v, e[e.size // 2])
    _check_ranges(e, zz, ok, pre, norm, norm_order)
    xc, xs = 0.5 * (e[0] + e[-1]), 0.5 * (e[-1] - e[0])
    x = (e - xc) / xs
    # spectra sharing the slices share the design matrices (one group for a common e0)
    keys, inverse = np.unique(_larch_ranges(e, zz, pre, norm, norm_order), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    out = np.empty_like(flat)
    steps = np.empty(npix)
    for g, (p1, p2, npre, q1, q2, nnorm, ie0) in enumerate(keys):
        rows = slice(None) if keys.shape[0] == 1 else np.flatnonzero(inverse == g)
        y = flat[rows]
        Vp = np.vander(x, npre + 1, increasing=True)
        cpre = y[:, p1:p2] @ np.linalg.pinv(Vp[p1:p2]).T
        sub = y - cpre @ Vp.T
        Vn = np.vander(x, nnorm + 1, increasing=True)
        post = (sub[:, q1:q2] @ np.linalg.pinv(Vn[q1:q2]).T) @ Vn.T  # the post-edge polynomial, all energies
        step = post[:, ie0]
        scale = np.abs(np.where(np.isfinite(y), y, 0.0)).max(axis=1)
        edge = ok[rows] & np.isfinite(step) & (step > 1e-9 * scale)  # else flat: no edge here
        step = np.where(edge, step, np.nan)
        res = sub / step[:, None]
        if flatten:
            res[:, ie0:] += 1.0 - post[:, ie0:] / step[:, None]
        out[rows] = res
        steps[rows] = step
    res = restore(out)
    if not return_edge:
        return res
    return res, e0v.reshape(lead), steps.reshape(lead)


# ---------------------------------------------------------------------------------------------
# the particle of a map or volume from its edge step: one rule for lcf, clusters and shells

EDGE_PRE = (-60.0, -15.0)  # eV relative to e0: pre-edge line of the mask's edge step
EDGE_NORM = (15.0, 200.0)  # eV relative to e0: post-edge line
BIMODAL_RATIO = 0.25  # below-threshold mean edge step / above-threshold mean: a background class
NOISE_FLOOR = 5.0  # the threshold is at least 5 × the rms of the negative (background-only) edge steps


class EdgeMask(NamedTuple):
    """What :func:`edge_mask` returns (arrays on the spatial shape, the energy axis removed)."""

    mask: np.ndarray
    edge_step: np.ndarray
    e0: float
    threshold: float
    rule: str


def _edge_step_weights(e, e0, pre, norm, norm_order=None):
    """``w`` (n,) with edge step = spectrum · w for one common e0: with e0 and the ranges fixed,
    :func:`normalise`'s edge step (pre-edge line and post-edge polynomial at e0) is linear in the
    spectrum, so a map's steps are one weighted sum over its energy planes."""
    zz = np.array([float(e0)])
    _check_ranges(e, zz, np.ones(1, bool), pre, norm, norm_order)
    p1, p2, npre, q1, q2, nnorm, ie0 = _larch_ranges(e, zz, pre, norm, norm_order)[0]
    n = e.size
    xc, xs = 0.5 * (e[0] + e[-1]), 0.5 * (e[-1] - e[0])
    x = (e - xc) / xs
    Vp = np.vander(x, npre + 1, increasing=True)
    Lp = np.zeros((n, npre + 1))
    Lp[p1:p2] = np.linalg.pinv(Vp[p1:p2]).T
    M = np.eye(n) - Lp @ Vp.T  # spectrum @ M = spectrum − its pre-edge line
    Vn = np.vander(x, nnorm + 1, increasing=True)
    return M[:, q1:q2] @ (np.linalg.pinv(Vn[q1:q2]).T @ Vn[ie0])


def edge_mask(spectra, energy=None, *, dim: str = "energy", axis: int | None = None, within=None,
              e0: float | None = None) -> EdgeMask:
    """The particle of a map or volume: the pixels with an absorption edge, lithmap's one rule
    (``lithmap lcf``, ``clusters`` and ``shells`` use it).

    Each pixel's edge step is taken as :func:`normalise` takes it, with one e0 for the map (the
    edge of its mean spectrum: noise-proof) and a pre-edge line over e0 −60…−15 eV and a
    post-edge line over e0 +15…+200 eV (clipped to the data). Background steps are noise,
    orders of magnitude below a particle's, while a particle's own steps spread with its
    thickness, so Otsu's threshold is taken on log(edge step) and used only when it separates a
    near-zero class (mean below ``BIMODAL_RATIO`` = 0.25 of the other's), raised to 5 × the
    edge step's noise where that is higher (the rms of the negative steps, which only background
    pixels have: Otsu's threshold sits at the edge of a wide class); otherwise (all particle)
    every pixel with a positive step is kept. Pixels with a NaN or infinite value at
    any energy, or no positive step, are never in the mask. The data are read one energy plane
    at a time (no float64 copy of a volume).

    Parameters
    ----------
    spectra : xarray.DataArray or array_like
        Optical density (or absorbance) of a map or volume: a DataArray with the energy dim
        ``dim`` anywhere (its coordinate gives the energies), or an array with the energy on
        ``axis`` (default last).
    energy : array_like, optional
        Energies in eV (not needed for a DataArray with an energy coordinate).
    dim : str
        The energy dim of a DataArray.
    axis : int, optional
        The energy axis of an array (default −1).
    within : array_like of bool, optional
        A mask given by the user (spatial shape): then the result is ``within`` ∩ (finite data
        with a positive edge step) and no threshold is taken; e0 is that of its mean spectrum.
    e0 : float, optional
        The common edge energy in eV (default: the largest derivative of the mean spectrum).

    Returns
    -------
    EdgeMask
        ``mask`` (bool, the spatial shape in the input's order), ``edge_step`` (float, NaN
        without an edge), ``e0`` (eV), ``threshold`` (edge step; 0 when none was applied) and
        ``rule`` (a sentence saying which rule made the mask).

    Raises
    ------
    LithmapError
        No pixel with finite data (inside ``within``), ranges that hold too few energies.

    Examples
    --------
    A particle (edge step 1) on a background with no edge (noise only):

    >>> e = np.linspace(6500.0, 6650.0, 60)
    >>> edge = 1 / (1 + np.exp(-(e - 6550.0) / 2.0))
    >>> rng = np.random.default_rng(0)
    >>> od = 0.2 + rng.normal(0, 0.003, (6, 8, e.size))
    >>> od[1:5, 2:6] += edge
    >>> em = edge_mask(od, e)
    >>> int(em.mask.sum()), bool(em.mask[1:5, 2:6].all()), em.rule.startswith("edge step above")
    (16, True, True)
    """
    if isinstance(spectra, xr.DataArray):
        ax, e = _energy_of(spectra, energy, dim, "edge_mask")
        arr = spectra.data if isinstance(spectra.data, np.ndarray) else np.asarray(spectra.data)
    else:
        arr = np.asarray(spectra)
        if arr.ndim == 0:
            raise LithmapError("spectra is a scalar; expected a map with an energy axis")
        ax, e = (-1 if axis is None else axis) % arr.ndim, energy
        if e is None:
            raise LithmapError("edge_mask needs the energies (eV) for an array of spectra")
    e = check_energies(np.asarray(e, float), "energy")
    if arr.shape[ax] != e.size:
        raise LithmapError(f"spectra have {arr.shape[ax]} values along the energy axis but there are {e.size} energies")
    if arr.dtype.kind not in "fiu":
        raise LithmapError(f"spectra have dtype {arr.dtype}; expected real numbers")
    shape = arr.shape[:ax] + arr.shape[ax + 1:]

    def plane(i):
        return np.asarray(np.take(arr, i, axis=ax), dtype=np.float64)

    finite = np.ones(shape, bool)
    for i in range(e.size):
        finite &= np.isfinite(plane(i))
    user = None
    if within is not None:
        user = np.asarray(within.values if isinstance(within, xr.DataArray) else within).astype(bool)
        if user.shape != shape:
            raise LithmapError(f"mask has shape {user.shape}; expected the map's pixel shape {shape}")
    sel = finite & user if user is not None else finite
    if not sel.any():
        where = " inside the mask" if user is not None else ""
        raise LithmapError(f"the map has no pixel with finite data at every energy{where}")
    if e0 is None:
        mean = np.array([plane(i)[sel].mean() for i in range(e.size)])
        e0 = float(find_e0(mean, e))
    w = _edge_step_weights(e, float(e0), EDGE_PRE, EDGE_NORM)
    step = np.zeros(shape)
    scale = np.zeros(shape)
    for i in range(e.size):
        p = plane(i)
        step += w[i] * p
        np.maximum(scale, np.abs(np.where(np.isfinite(p), p, 0.0)), out=scale)
    ok = finite & np.isfinite(step) & (step > 1e-9 * scale) & (step > 0)  # as normalise: else no edge
    neg = step[finite & (step < 0)]  # only background pixels have negative steps: their noise
    floor = NOISE_FLOOR * float(np.sqrt(np.mean(neg * neg))) if neg.size >= 5 else 0.0
    step = np.where(ok, step, np.nan)
    if user is not None:
        return EdgeMask(user & ok, step, float(e0), 0.0,
                        "mask given (pixels with finite data and a positive edge step)")
    from skimage.filters import threshold_otsu

    j = step[ok]
    if j.size < 2 or np.ptp(j) == 0:
        return EdgeMask(ok, step, float(e0), 0.0, "all pixels with a positive edge step")
    t = float(np.exp(threshold_otsu(np.log(j))))
    lo, hi = j[j <= t], j[j > t]
    if lo.size and hi.size and lo.mean() < BIMODAL_RATIO * hi.mean():
        rule = f"edge step above the Otsu threshold of its logarithm, {t:.4g}"
        if floor > t and floor < hi.mean():
            t = floor
            rule = f"edge step above {NOISE_FLOOR:g} times its noise (from the negative steps), {t:.4g}"
        return EdgeMask(ok & (step > t), step, float(e0), t, rule)
    return EdgeMask(ok, step, float(e0), 0.0,
                    "all pixels with a positive edge step (edge steps not bimodal: no background)")


def edge_energy(element: str | None, edge: str | None = "K") -> float | None:
    """Tabulated absorption-edge energy (eV) from xraydb, or None when unknown.

    Parameters
    ----------
    element : str or None
        Chemical symbol (``"Mn"``).
    edge : str
        The edge (``"K"``, ``"L3"``, …).

    Returns
    -------
    float or None
        The edge energy in eV.

    Examples
    --------
    >>> edge_energy("Mn", "K")
    6539.0
    >>> edge_energy(None) is None
    True
    """
    if not element:
        return None
    try:
        import xraydb

        return float(xraydb.xray_edge(str(element).strip(), str(edge or "K").strip()).energy)
    except Exception:
        return None


def align(energy, ref_mu, target_ref_mu, target_energy=None, *, window=None, max_shift: float = 5.0) -> float:
    """Energy shift (eV) that brings a reference-channel spectrum onto a target reference.

    The derivative of ``ref_mu``, shifted by s and scaled freely, is fitted by least squares to
    the derivative of ``target_ref_mu`` over ``window``; s is found on a grid of a tenth of the
    smallest energy step over ±``max_shift`` and refined by Brent's method. Add the result to
    ``energy`` (of the spectrum and of its sample channel) to align it with the target.

    Parameters
    ----------
    energy, ref_mu : array_like
        Energies (eV) and the reference channel (e.g. ln(itrans/irefer)) to be shifted.
    target_ref_mu : array_like
        The reference channel to align to; on ``target_energy`` (default: ``energy``).
    window : (float, float), optional
        Absolute energies (eV) compared; default the target's whole range less ``max_shift``.
        Choose it around the reference foil's edge (e.g. tabulated edge −10…+5 eV).
    max_shift : float
        Largest shift considered (eV); reaching it raises :class:`LithmapError`.

    Returns
    -------
    float
        The shift in eV.

    Examples
    --------
    The reference foil of a real scan, recorded again with a calibration 0.7 eV off:

    >>> import lithmap
    >>> ds = lithmap.read_spectra(lithmap.example_file("MnO_rt_01.xdi"))
    >>> e, ref = ds["energy"].values, ds["mu_ref"].values
    >>> round(align(e + 0.7, ref, ref, e, window=(6529, 6560)), 2)
    -0.7
    """
    from scipy.optimize import minimize_scalar

    e = check_energies(energy, "energy")
    te = e if target_energy is None else check_energies(target_energy, "target_energy")
    r = np.asarray(ref_mu, float)
    t = np.asarray(target_ref_mu, float)
    if r.shape != e.shape or t.shape != te.shape:
        raise LithmapError(f"align: reference channels have shapes {r.shape} and {t.shape} for "
                           f"{e.size} and {te.size} energies")
    if not (np.isfinite(r).all() and np.isfinite(t).all()):
        raise LithmapError("align: the reference channels contain NaN or infinite values")
    if not max_shift > 0:
        raise LithmapError(f"max_shift={max_shift!r} is invalid; expected a positive number of eV")
    wlo, whi = (te[0], te[-1]) if window is None else (float(window[0]), float(window[1]))
    lo, hi = max(wlo, e[0] + max_shift), min(whi, e[-1] - max_shift)
    sel = (te >= lo) & (te <= hi)
    if sel.sum() < 5:
        raise LithmapError(f"align: window {wlo:.6g}-{whi:.6g} eV holds {int(sel.sum())} energies of the target "
                           f"({te[0]:.6g}-{te[-1]:.6g} eV) at least {max_shift:g} eV (max_shift) inside the data "
                           f"({e[0]:.6g}-{e[-1]:.6g} eV); it needs 5")
    x = te[sel]
    dt = np.gradient(t, te)[sel]
    ds = np.gradient(r, e)
    tt = float(dt @ dt)
    if tt <= 0:
        raise LithmapError(f"align: the target reference is flat between {lo:.6g} and {hi:.6g} eV")

    def cost(s):
        y = np.interp(x - s, e, ds)
        yy = float(y @ y)
        return 1.0 - (float(y @ dt) ** 2 / (yy * tt) if yy > 0 else 0.0)

    h = float(np.min(np.diff(e))) / 10.0
    grid = np.arange(-max_shift, max_shift + 0.5 * h, h)
    costs = np.array([cost(s) for s in grid])
    k = int(np.argmin(costs))
    res = minimize_scalar(cost, bounds=(grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]), method="bounded",
                          options={"xatol": 1e-4})
    s = float(res.x) if res.fun <= costs[k] else float(grid[k])
    if abs(s) >= max_shift - h:
        raise LithmapError(f"align: the best shift reaches the limit ±{max_shift:g} eV in {lo:.6g}-{hi:.6g} eV; "
                           "the reference channels do not match (check the window)")
    return s


def select_window(spectra, lo: float, hi: float, *, dim: str = "energy"):
    """The part of ``spectra`` with lo ≤ energy ≤ hi.

    Parameters
    ----------
    spectra : xarray.DataArray or xarray.Dataset
        With an energy coordinate ``dim`` in eV.
    lo, hi : float
        The window in eV (lo < hi).
    dim : str
        The energy dim.

    Returns
    -------
    Same type as ``spectra``, on the energies inside the window.

    Raises
    ------
    LithmapError
        When fewer than 2 energies remain (the message gives the data's range).

    Examples
    --------
    >>> import lithmap
    >>> mu = lithmap.read_spectra(lithmap.example_file("Mn3O4_rt_02.xdi"))["mu"]
    >>> w = select_window(mu, 6535, 6580)
    >>> bool(w.energy.min() >= 6535 and w.energy.max() <= 6580), w.sizes["energy"] < mu.sizes["energy"]
    (True, True)
    """
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise LithmapError(f"window {lo:g}:{hi:g} eV is invalid; expected lo < hi")
    if dim not in spectra.coords:
        raise LithmapError(f"select_window needs spectra with an {dim!r} coordinate (eV)")
    e = spectra[dim].values
    keep = (e >= lo) & (e <= hi)
    if keep.sum() < 2:
        src = spectra.attrs.get("source", "the spectra")
        raise LithmapError(f"window {lo:g}:{hi:g} eV holds {int(keep.sum())} energies of {src} "
                           f"({e.min():.6g}-{e.max():.6g} eV)")
    return spectra.isel({dim: np.flatnonzero(keep)})


def interpolate_standards(standards, energy) -> xr.DataArray:
    """Standards on the energy grid ``energy`` (eV) by linear interpolation, never extrapolated.

    Parameters
    ----------
    standards : mapping name -> DataArray, or sequence of named DataArrays
        Each a 1-D spectrum with an ``energy`` coordinate in eV.
    energy : array_like or DataArray
        The sample's energies (the fitting window).

    Returns
    -------
    xarray.DataArray
        ``standards`` on (energy, standard), the ``standard`` coordinate holding the names.

    Raises
    ------
    LithmapError
        A standard that does not cover the whole of ``energy`` (named, with both ranges).

    Examples
    --------
    >>> import lithmap
    >>> std = {n: lithmap.read_spectra(lithmap.example_file(f"{n}_rt_01.xdi"))["mu"] for n in ("MnO", "MnO2")}
    >>> A = interpolate_standards(std, np.linspace(6535, 6580, 46))
    >>> A.dims, A.shape, A["standard"].values.tolist()
    (('energy', 'standard'), (46, 2), ['MnO', 'MnO2'])
    """
    if isinstance(standards, Mapping):
        items = list(standards.items())
    elif isinstance(standards, Sequence) and not isinstance(standards, (str, bytes)):
        items = [(s.name if s.name is not None else f"standard_{i}", s) for i, s in enumerate(standards)]
    else:
        raise LithmapError("standards must be a mapping name -> spectrum or a list of named DataArrays")
    if not items:
        raise LithmapError("no standards given")
    e = check_energies(np.asarray(energy), "sample energies")
    cols = []
    for name, s in items:
        if not isinstance(s, xr.DataArray) or "energy" not in s.coords or s.ndim != 1:
            raise LithmapError(f"standard {name!r} must be a 1-D spectrum with an 'energy' coordinate")
        se = check_energies(s["energy"].values, f"standard {name!r}")
        tol = 1e-9 * max(1.0, abs(se[-1]))
        if e[0] < se[0] - tol or e[-1] > se[-1] + tol:
            raise LithmapError(f"standard {name!r} covers {se[0]:.6g}-{se[-1]:.6g} eV but the window needs "
                               f"{e[0]:.6g}-{e[-1]:.6g} eV; narrow the window (it is never extrapolated)")
        cols.append(np.interp(np.clip(e, se[0], se[-1]), se, np.asarray(s.values, float)))
    names = [str(n) for n, _ in items]
    return xr.DataArray(np.stack(cols, axis=1), dims=("energy", "standard"),
                        coords={"energy": _energy_coord(e), "standard": names}, name="standards",
                        attrs={"units": "1", "long_name": "standard spectra on the sample energies"})
