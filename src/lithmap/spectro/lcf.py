"""Linear-combination fitting (LCF) of absorption spectra, every pixel at once and exactly.

Each pixel's spectrum b (n energies) is fitted as A w (+ a constant offset, optionally) with the
k standards as the columns of A, solving

    min ||A w − b||²   subject to   w ≥ 0 and Σ w = 1        (the default)

or with only one of the constraints, or none. The data are read once: the Gram matrix
G = AᵀA is the standards' own, and Aᵀb, Σb and bᵀb for all pixels come from one pass over the
cube (a compiled loop, or BLAS on cache-sized chunks). Everything after that works on those
k + 2 numbers per pixel:

- the unconstrained minimiser w_u = G⁻¹Aᵀb and its residual r_u = bᵀb − (Aᵀb)·w_u;
- for every support S (subset of standards) the equality-constrained minimiser on S (the KKT
  system with Σw = 1 restricted to S: a fixed small linear map of (Aᵀb)_S, precomputed once
  per subset), kept where it is feasible (w_S ≥ 0);
- the objective of a candidate w is r_u + (w − w_u)ᵀ G (w − w_u), exactly, and the feasible
  candidate of least objective is the solution.

The optimum's own support is always among the candidates, and every feasible candidate is a
feasible point, so the minimum over candidates is the exact constrained optimum (G is positive
definite: standards are checked for collinearity). The cost is at most 2^k − 1 small solves per
pixel (the full support first: when it is feasible it is the answer), which is fine for the
handful of standards LCF uses (k ≤ 8).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io import spectra as _io
from . import spectra as _sp

try:
    import numba as nb

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency; this guards odd platforms
    HAVE_NUMBA = False

MAX_STANDARDS = 8
COND_LIMIT = 1e6
_CHUNK_BYTES = 4 * 2**20  # a pixel chunk of the cube for the single pass (stays in cache)
_SOLVE_CHUNK = 2**16  # pixels per active-set solve


# ---------------------------------------------------------------------------------------------
# input checks


def _standards_matrix(standards, names, dim="energy"):
    if isinstance(standards, xr.DataArray):
        if standards.ndim == 1:
            standards = standards.expand_dims("standard", axis=-1)
        if dim not in standards.dims or standards.ndim != 2:
            raise LithmapError(f"standards have dims {standards.dims}; expected ({dim}, standard)")
        other = next(d for d in standards.dims if d != dim)
        st = standards.transpose(dim, other)
        if names is None:
            names = [str(v) for v in st[other].values] if other in st.coords else None
        energy = st[dim].values if dim in st.coords else None
        A = np.asarray(st.values, dtype=np.float64)
    else:
        A = np.asarray(standards, dtype=np.float64)
        energy = None
        if A.ndim == 1:
            A = A[:, None]
        if A.ndim != 2:
            raise LithmapError(f"standards have shape {A.shape}; expected (n_energy, n_standards)")
    k = A.shape[1]
    if names is None:
        names = [f"standard_{i}" for i in range(k)]
    names = [str(n) for n in names]
    if len(names) != k:
        raise LithmapError(f"{len(names)} standard names for {k} standards")
    if len(set(names)) != k:
        raise LithmapError(f"standard names repeat: {names}")
    if k == 0:
        raise LithmapError("no standards given")
    if k > MAX_STANDARDS:
        raise LithmapError(f"{k} standards given; the exact fit enumerates subsets and allows at most {MAX_STANDARDS}")
    bad = ~np.isfinite(A)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        where = f" ({energy[i]:.6g} eV)" if energy is not None else ""
        raise LithmapError(f"standard {names[j]!r} is {float(A[i, j])} at energy index {i}{where}; "
                           "standards must be finite")
    return A, names, energy


def _check_rank(A, names, offset):
    n, k = A.shape
    need = k + (1 if offset else 0)
    if n < need:
        extra = " plus an offset" if offset else ""
        raise LithmapError(f"{n} energies cannot determine {k} standards{extra}; the window needs at least {need + 1}")
    cols = [A[:, j] for j in range(k)] + ([np.ones(n)] if offset else [])
    labels = names + (["offset"] if offset else [])
    M = np.stack(cols, axis=1)
    norms = np.linalg.norm(M, axis=0)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise LithmapError(f"standard {labels[zero[0]]!r} is zero over the fitted energies")
    Mn = M / norms
    _, s, vt = np.linalg.svd(Mn, full_matrices=False)
    cond = s[0] / s[-1] if s[-1] > 0 else np.inf
    if not cond < COND_LIMIT:
        v = np.abs(vt[-1])
        involved = [labels[j] for j in np.flatnonzero(v >= 0.2 * v.max())]
        raise LithmapError(f"standards {', '.join(map(repr, involved))} are collinear over the fitted energies "
                           f"(condition number {cond:.3g} >= {COND_LIMIT:g}); drop one or widen the window")
    return float(cond)


def _sample_layout(sample, n_energy, std_energy, dim="energy"):
    """``(array, energy_axis, spatial_dims, coords, energy)`` for an ndarray or DataArray."""
    if isinstance(sample, xr.Dataset):
        raise LithmapError("sample is a Dataset; pass its spectra variable (e.g. ds['mu'])")
    if isinstance(sample, xr.DataArray):
        if dim not in sample.dims:
            raise LithmapError(f"sample has dims {sample.dims}; expected an {dim!r} dim")
        axis = sample.dims.index(dim)
        dims = [d for d in sample.dims if d != dim]
        coords = {k: v for k, v in sample.coords.items() if dim not in v.dims}
        energy = sample[dim].values if dim in sample.coords else None
        arr = sample.data
        if not isinstance(arr, np.ndarray):
            arr = np.asarray(arr)
    else:
        arr = np.asarray(sample)
        if arr.ndim == 0:
            raise LithmapError("sample is a scalar; expected spectra (..., n_energy)")
        axis = arr.ndim - 1
        lead = arr.ndim - 1
        dims = {0: [], 1: ["spectrum"], 2: ["y", "x"], 3: ["z", "y", "x"]}.get(lead, [f"dim_{i}" for i in range(lead)])
        coords, energy = {}, None
    if arr.dtype.kind not in "fiu":
        raise LithmapError(f"sample has dtype {arr.dtype}; expected real numbers")
    if arr.shape[axis] != n_energy:
        raise LithmapError(f"sample has {arr.shape[axis]} energies but the standards have {n_energy}")
    if energy is not None and std_energy is not None and (
            energy.shape != std_energy.shape or not np.allclose(energy, std_energy, rtol=0, atol=1e-6)):
        raise LithmapError("sample and standards are on different energy grids; put the standards on the "
                           "sample's energies first (interpolate_standards)")
    return arr, axis, dims, coords, energy


# ---------------------------------------------------------------------------------------------
# the single pass and the exact solve


def _jit(func=None, **kw):
    if func is None:
        return lambda f: _jit(f, **kw)
    return nb.njit(cache=True, nogil=True, **kw)(func) if HAVE_NUMBA else func


@_jit(fastmath={"reassoc", "contract"})
def _stats_last(B, AT, proj, bb):  # pragma: no cover - compiled
    """Pixels on rows of B (npix, n): proj[p, :k] = Aᵀb, proj[p, k] = Σb, bb[p] = bᵀb.
    Each row is read from memory once and its k + 2 dot products run from L1 (reassociated
    into SIMD sums; NaN and inf still propagate)."""
    npix, n = B.shape
    k = AT.shape[0]
    for p in range(npix):
        row = B[p]
        for j in range(k):
            a = AT[j]
            s = 0.0
            for e in range(n):
                s += a[e] * row[e]
            proj[p, j] = s
        s1 = 0.0
        s2 = 0.0
        for e in range(n):
            x = np.float64(row[e])
            s1 += x
            s2 += x * x
        proj[p, k] = s1
        bb[p] = s2


@_jit(fastmath={"reassoc", "contract"})
def _stats_first(B, A, proj, bb):  # pragma: no cover - compiled
    """Pixels on columns of B (n, npix): blocks of pixels are transposed into a small buffer
    (in cache) and reduced like :func:`_stats_last`."""
    n, npix = B.shape
    AT = np.ascontiguousarray(A.T)
    blk = 256
    buf = np.empty((blk, n))
    for p0 in range(0, npix, blk):
        m = min(npix, p0 + blk) - p0
        for e in range(n):
            for q in range(m):
                buf[q, e] = B[e, p0 + q]
        _stats_last(buf[:m], AT, proj[p0:p0 + m], bb[p0:p0 + m])


def _sufficient_stats(arr, axis, A, *, use_numba=None):
    """Aᵀb (with Σb as its last column) and bᵀb per pixel (pixels in C order of the other dims):
    the single pass over the data.

    Contiguous energy-first and energy-last layouts are read in place (no copy of the cube);
    accumulation is in float64 whatever the input dtype. Compiled (numba) when available,
    else BLAS on cache-sized pixel chunks."""
    n, k = A.shape
    if axis == arr.ndim - 1 and arr.flags.c_contiguous:
        B, first = arr.reshape(-1, n), False
    elif axis == 0 and arr.flags.c_contiguous:
        B, first = arr.reshape(n, -1), True
    else:
        B, first = np.ascontiguousarray(np.moveaxis(arr, axis, -1)).reshape(-1, n), False
    npix = B.shape[1] if first else B.shape[0]
    proj = np.empty((npix, k + 1))
    bb = np.empty(npix)
    if npix == 0:
        return proj, bb
    if (HAVE_NUMBA if use_numba is None else use_numba) and B.dtype in (np.float32, np.float64):
        if first:
            _stats_first(B, np.ascontiguousarray(A, dtype=np.float64), proj, bb)
        else:
            _stats_last(B, np.ascontiguousarray(A.T, dtype=np.float64), proj, bb)
        return proj, bb
    Aaug = np.concatenate([A, np.ones((n, 1))], axis=1)
    step = max(1, _CHUNK_BYTES // (8 * n))
    for j0 in range(0, npix, step):
        j1 = min(npix, j0 + step)
        if first:
            c = np.asarray(B[:, j0:j1], dtype=np.float64)
            np.matmul(c.T, Aaug, out=proj[j0:j1])
            bb[j0:j1] = np.einsum("ij,ij->j", c, c)
        else:
            c = np.asarray(B[j0:j1], dtype=np.float64)
            np.matmul(c, Aaug, out=proj[j0:j1])
            bb[j0:j1] = np.einsum("ij,ij->i", c, c)
    return proj, bb


def _subsets(k, include_empty):
    for size in range(0 if include_empty else 1, k + 1):
        yield from itertools.combinations(range(k), size)


def _prepare(G, sum_to_one, nonneg):
    """The candidate supports and their fixed linear maps, zero-padded to k × k.

    For support S the equality-constrained minimiser is w = c @ Gi (+ α u with
    α = (1 − Σ c @ Gi) / Σu for Σw = 1), where Gi is G_SS⁻¹ and u = G_SS⁻¹1 placed in the rows
    and columns of S and zero elsewhere; the empty support (w = 0) is a candidate when the sum
    is free."""
    k = G.shape[0]
    subsets = list(_subsets(k, include_empty=not sum_to_one)) if nonneg else [tuple(range(k))]
    m = len(subsets)
    Gi = np.zeros((m, k, k))
    u = np.zeros((m, k))
    usum = np.ones(m)
    for i, S in enumerate(subsets):
        if not S:
            continue
        idx = np.array(S)
        inv = np.linalg.inv(G[np.ix_(idx, idx)])
        Gi[i][np.ix_(idx, idx)] = 0.5 * (inv + inv.T)
        u[i, idx] = Gi[i][np.ix_(idx, idx)].sum(axis=1)
        usum[i] = u[i].sum()
    return Gi, u, usum


_FEAS_TOL = 1e-10  # relative: w_i >= -1e-10 * max|w| counts as feasible (then clipped to 0)


def _solve_numpy(c, bb, G, Ginv, Gi, u, usum, sum_to_one, nonneg):
    """Exact constrained least squares for every pixel from c = Aᵀb (N, k) and bb = bᵀb (N,),
    vectorised over pixels.

    Returns ``(w, rss)``: the weights and ||b − Aw||² = r_u + (w − w_u)ᵀ G (w − w_u), with
    w_u the unconstrained minimiser and r_u = bᵀb − c·w_u its residual."""
    N, k = c.shape
    wu = np.einsum("ij,jk->ik", c, Ginv)
    r_u = np.maximum(bb - np.einsum("ij,ij->i", c, wu), 0.0)
    best_w = np.full((N, k), np.nan)
    best_q = np.full(N, np.inf)
    for i in range(Gi.shape[0]):
        w = np.einsum("ij,jk->ik", c, Gi[i])
        if sum_to_one:
            w += ((1.0 - w.sum(axis=1)) / usum[i])[:, None] * u[i][None, :]
        if nonneg:
            feasible = w.min(axis=1) >= -_FEAS_TOL * np.abs(w).max(axis=1)
        else:
            feasible = np.ones(N, bool)
        d = w - wu
        q = np.einsum("ij,jk,ik->i", d, G, d)
        better = feasible & (q < best_q)
        best_q[better] = q[better]
        best_w[better] = w[better]
    return _finish(best_w, r_u + best_q, sum_to_one, nonneg)


def _finish(w, rss, sum_to_one, nonneg):
    if nonneg:
        np.maximum(w, 0.0, out=w)
        if sum_to_one:
            w /= np.einsum("ij->i", w)[:, None]
    rss[~np.isfinite(rss)] = np.nan
    return w, rss


@_jit
def _solve_compiled(c, bb, G, Ginv, Gi, u, usum, sum_to_one, nonneg, best_w, rss):  # pragma: no cover - compiled
    """The same candidates as :func:`_solve_numpy`, one pixel at a time (no temporaries); the
    full support is tried first and, when feasible, ends the search (most pixels of a map)."""
    N, k = c.shape
    m = Gi.shape[0]
    wu = np.empty(k)
    w = np.empty(k)
    d = np.empty(k)
    for p in range(N):
        best = np.inf
        for i in range(k):
            best_w[p, i] = np.nan
        r_u = bb[p]
        for i in range(k):
            s = 0.0
            for j in range(k):
                s += c[p, j] * Ginv[j, i]
            wu[i] = s
            r_u -= c[p, i] * s
        for t in range(m - 1, -1, -1):  # the full support first
            tot = 0.0
            for i in range(k):
                s = 0.0
                for j in range(k):
                    s += c[p, j] * Gi[t, j, i]
                w[i] = s
                tot += s
            if sum_to_one:
                alpha = (1.0 - tot) / usum[t]
                for i in range(k):
                    w[i] += alpha * u[t, i]
            if nonneg:
                lo = 0.0
                hi = 0.0
                for i in range(k):
                    lo = min(lo, w[i])
                    hi = max(hi, abs(w[i]))
                if not lo >= -_FEAS_TOL * hi:
                    continue
            for i in range(k):
                d[i] = w[i] - wu[i]
            q = 0.0
            for i in range(k):
                s = 0.0
                for j in range(k):
                    s += G[i, j] * d[j]
                q += s * d[i]
            if q < best:
                best = q
                for i in range(k):
                    best_w[p, i] = w[i]
            if t == m - 1 and best < np.inf:
                break  # the full support is feasible: it minimises over a superset, so it is optimal
        rss[p] = max(r_u, 0.0) + best


def fit_lcf(sample, standards, valences=None, *, dim: str = "energy", names=None, sum_to_one: bool = True,
            nonneg: bool = True, offset: bool = False, mask=None, use_numba: bool | None = None) -> xr.Dataset:
    """Fit every pixel's spectrum as a linear combination of standards, exactly.

    Solves min ||A w − b||² for each pixel's spectrum b with the standards as the columns of A,
    subject to w ≥ 0 (``nonneg``) and Σw = 1 (``sum_to_one``), by enumerating active sets on the
    Gram matrix (see the module notes): exact to rounding, with one pass over the data.

    Parameters
    ----------
    sample : array_like (..., n_energy) or xarray.DataArray
        One spectrum, a map (y, x, n_energy), a volume, ...; a DataArray may put its energy
        dim ``dim`` anywhere (e.g. (energy, y, x) as read from a stack) and keeps its other
        dims and coordinates; an array has the energy last. float32 data are accumulated in
        float64.
    standards : array_like (n_energy, k) or xarray.DataArray (energy, standard)
        The standard spectra on the sample's energies (see ``interpolate_standards``).
    valences : sequence of k floats, optional
        Oxidation state of each standard; gives ``mean_valence``.
    dim : str
        The energy dim of DataArray ``sample`` and ``standards``.
    names : sequence of k str, optional
        Standard names (default: the DataArray's ``standard`` coordinate, or standard_0, ...).
    sum_to_one, nonneg : bool
        Constraints Σw = 1 and w ≥ 0 (both by default). Without them the problem is plain least
        squares.
    offset : bool
        Also fit a constant added to every energy (free, unconstrained): output ``offset``.
    mask : array_like of bool, optional
        Pixels to fit (True: inside a particle); others are NaN. Shape of ``sample`` without
        the energy axis.
    use_numba : bool, optional
        Compiled kernels (default when numba is installed) or the vectorised NumPy path; both
        compute the same candidates.

    Returns
    -------
    xarray.Dataset
        ``weights`` (..., standard), ``fit_sum`` Σw, ``residual`` (rms of data − fit, in the
        data's units), ``r_factor`` Σ(data − fit)²/Σdata², ``mean_valence`` (Σ w v / Σ w, with
        ``valences``), ``offset`` (with ``offset``); coordinates ``standard`` (and ``valence``);
        attrs ``n_nan_pixels`` (pixels in the mask with NaN or infinite data, set NaN),
        ``n_masked_pixels``, ``n_energies``, ``condition_number`` and the constraints.

    Raises
    ------
    LithmapError
        Fewer energies than standards, NaN or collinear standards (named), shapes that do not
        match, valences of the wrong length.

    Notes
    -----
    Residuals come from the Gram identity ||b − Aw||² = r_u + (w − w_u)ᵀG(w − w_u) without a
    second pass over the data, so they carry a rounding error of about eps·cond(G)·bᵀb
    (absolute): relative 1e-9 on a 1 % fit of the Mn standards, immaterial for measured data.

    Examples
    --------
    >>> A = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [3.0, 0.0]])
    >>> b = A @ [0.25, 0.75]
    >>> ds = fit_lcf(b, A, valences=[2, 4])
    >>> np.round(ds.weights.values, 6).tolist(), round(float(ds.mean_valence), 6)
    ([0.25, 0.75], 3.5)
    """
    A, names, std_energy = _standards_matrix(standards, names, dim)
    n, k = A.shape
    arr, axis, dims, coords, energy = _sample_layout(sample, n, std_energy, dim)
    cond = _check_rank(A, names, offset)
    if valences is not None:
        v = np.asarray(valences, dtype=float).ravel()
        if v.size != k:
            raise LithmapError(f"{v.size} valences for {k} standards ({', '.join(names)})")
        if not np.isfinite(v).all():
            raise LithmapError(f"valences {v.tolist()} must be finite numbers")
    spatial = tuple(s for i, s in enumerate(arr.shape) if i != axis)
    npix = int(np.prod(spatial, dtype=np.int64))
    if mask is not None:
        m = np.asarray(mask.values if isinstance(mask, xr.DataArray) else mask)
        if m.shape != spatial:
            raise LithmapError(f"mask has shape {m.shape}; expected the sample's pixel shape {spatial}")
        m = m.astype(bool).reshape(-1)
    else:
        m = np.ones(npix, bool)

    proj, bb = _sufficient_stats(arr, axis, A, use_numba=use_numba)
    c, sb = proj[:, :k], proj[:, k]
    G = A.T @ A
    if offset:  # project out the constant: centred standards and data
        abar = A.mean(axis=0)
        G = G - n * np.outer(abar, abar)
        with np.errstate(invalid="ignore"):
            c = c - sb[:, None] * abar[None, :]
            bbc = bb - sb * sb / n
    else:
        bbc = bb
    G = 0.5 * (G + G.T)
    Ginv = np.linalg.inv(G)
    Ginv = 0.5 * (Ginv + Ginv.T)
    Gi, u, usum = _prepare(G, sum_to_one, nonneg)
    if HAVE_NUMBA if use_numba is None else use_numba:
        w = np.empty((npix, k))
        rss = np.empty(npix)
        _solve_compiled(np.ascontiguousarray(c), bbc, G, Ginv, Gi, u, usum, bool(sum_to_one), bool(nonneg), w, rss)
        w, rss = _finish(w, rss, sum_to_one, nonneg)
    else:
        w = np.empty((npix, k))
        rss = np.empty(npix)
        for j0 in range(0, npix, _SOLVE_CHUNK):
            sl = slice(j0, min(npix, j0 + _SOLVE_CHUNK))
            w[sl], rss[sl] = _solve_numpy(c[sl], bbc[sl], G, Ginv, Gi, u, usum, sum_to_one, nonneg)

    finite = np.isfinite(bb) & np.isfinite(sb)
    n_nan = int(np.count_nonzero(m & ~finite))
    drop = ~m | ~finite
    w[drop] = np.nan
    rss[drop] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        fit_sum = np.einsum("ij->i", w)
        rms = np.sqrt(rss / n)
        rfac = rss / bb
    out_shape = spatial
    data_vars = {
        "weights": (tuple(dims) + ("standard",), w.reshape(out_shape + (k,)),
                    {"long_name": "fraction of each standard", "units": "1"}),
        "fit_sum": (tuple(dims), fit_sum.reshape(out_shape), {"long_name": "sum of the weights", "units": "1"}),
        "residual": (tuple(dims), rms.reshape(out_shape),
                     {"long_name": "rms of data - fit over the fitted energies", "units": "1"}),
        "r_factor": (tuple(dims), rfac.reshape(out_shape),
                     {"long_name": "sum (data - fit)^2 / sum data^2", "units": "1"}),
    }
    out_coords = dict(coords)
    out_coords["standard"] = ("standard", names)
    if valences is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            mv = np.einsum("ij,j->i", w, v) / fit_sum
        data_vars["mean_valence"] = (tuple(dims), mv.reshape(out_shape),
                                     {"long_name": "weighted mean oxidation state", "units": "1"})
        out_coords["valence"] = ("standard", v, {"long_name": "oxidation state of the standard"})
    if offset:
        off = (sb - np.einsum("j,ij->i", A.sum(axis=0), np.nan_to_num(w))) / n
        off[drop] = np.nan
        data_vars["offset"] = (tuple(dims), off.reshape(out_shape),
                               {"long_name": "constant offset fitted", "units": "1"})
    attrs = {
        "method": "exact constrained least squares (active-set enumeration on the Gram matrix)",
        "sum_to_one": int(sum_to_one), "nonneg": int(nonneg), "offset": int(offset),
        "n_energies": int(n), "n_nan_pixels": n_nan, "n_masked_pixels": int(np.count_nonzero(~m)),
        "condition_number": cond,
    }
    if energy is not None or std_energy is not None:
        e = energy if energy is not None else std_energy
        attrs["energy_min"] = float(np.min(e))
        attrs["energy_max"] = float(np.max(e))
    return xr.Dataset(data_vars, coords=out_coords, attrs=attrs)


# ---------------------------------------------------------------------------------------------
# from files


def parse_standard(spec) -> tuple[str, float]:
    """``"MnO.xdi:2"`` → ``("MnO.xdi", 2.0)``; the valence follows the last colon (so
    ``"file.prj:GROUP:3"`` keeps the group). A tuple ``(path, valence)`` passes through.

    Parameters
    ----------
    spec : str or (path, valence)
        ``"FILE:VALENCE"``.

    Returns
    -------
    (str, float)
        The file and the oxidation state.

    Examples
    --------
    >>> parse_standard("MnO.xdi:2")
    ('MnO.xdi', 2.0)
    >>> parse_standard("standards.prj:Mn2O3:3")
    ('standards.prj:Mn2O3', 3.0)
    """
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise LithmapError(f"standard {spec!r} is invalid; expected (path, valence)")
        path, val = spec
    else:
        s = str(spec)
        if ":" not in s:
            raise LithmapError(f"standard {s!r} is invalid; expected FILE:VALENCE such as MnO.xdi:2")
        path, val = s.rsplit(":", 1)
    try:
        v = float(val)
    except (TypeError, ValueError):
        raise LithmapError(f"standard {spec!r} has valence {val!r}; expected a number such as MnO.xdi:2") from None
    if not np.isfinite(v):
        raise LithmapError(f"standard {spec!r} has valence {val!r}; expected a finite number")
    return str(path), v


def parse_window(text) -> tuple[float, float]:
    """``"6535:6580eV"`` (or ``"6.535:6.58keV"``, or a pair of numbers in eV) → ``(lo, hi)`` in eV.

    Parameters
    ----------
    text : str or (float, float)
        ``"LO:HI"`` with the unit eV or keV after either number or both; a pair is in eV.

    Returns
    -------
    (float, float)
        The window in eV, lo < hi.

    Examples
    --------
    >>> parse_window("6535:6580eV")
    (6535.0, 6580.0)
    >>> parse_window("6.535:6.58keV")
    (6535.0, 6580.0)
    """
    import re

    if isinstance(text, (tuple, list)):
        if len(text) != 2:
            raise LithmapError(f"window {text!r} is invalid; expected (lo, hi) in eV")
        lo, hi = float(text[0]), float(text[1])
    else:
        number = r"\s*([-+0-9.eE]+)\s*(k?eV)?\s*"
        m = re.match(rf"^{number}[:,]{number}$", str(text), flags=re.IGNORECASE)
        if not m:
            raise LithmapError(f"window {text!r} is invalid; expected LO:HI in eV such as 6535:6580eV")
        unit = (m.group(4) or m.group(2) or "eV").lower()
        scale = 1000.0 if unit == "kev" else 1.0
        try:
            lo, hi = float(m.group(1)) * scale, float(m.group(3)) * scale
        except ValueError:
            raise LithmapError(f"window {text!r} is invalid; expected LO:HI in eV such as 6535:6580eV") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise LithmapError(f"window {text!r} is invalid; expected LO < HI in eV")
    return lo, hi


def _unique_names(paths):
    names = []
    for p in paths:
        path, group = _io.split_prj_group(p)
        base = group if group else Path(path).stem
        name, i = base, 2
        while name in names:
            name, i = f"{base}_{i}", i + 1
        names.append(name)
    return names


def _align_window(target: xr.Dataset, half=(-10.0, 5.0)):
    """Around the reference foil's edge: the tabulated edge of the file's element (the foil is
    conventionally the same element), else the steepest point of the target reference."""
    e0 = _sp.edge_energy(target.attrs.get("element"), target.attrs.get("edge", "K"))
    if e0 is None:
        e0 = float(_sp.find_e0(target["mu_ref"]))
    return e0 + half[0], e0 + half[1]


def lcf_from_files(samples, standards, *, window=None, energies=None, i0=None, normalise: bool = True,
                   align: bool = True, sum_to_one: bool = True, nonneg: bool = True, offset: bool = False,
                   mask=None, pre=(-60.0, -15.0), norm=(15.0, 200.0), norm_order: int = 1) -> xr.Dataset:
    """Read, normalise, align and fit samples against standards: what ``lithmap lcf`` runs.

    Parameters
    ----------
    samples : path or list of paths
        Spectrum files (XDI, ``file.prj[:GROUP]``, two-column text), TIFF stacks (with
        ``energies``) or NetCDF/HDF5 files with ``absorbance``. Several samples are stacked on
        a ``sample`` dim (named by file).
    standards : list of (path, valence) or "path:valence" strings
        Standard spectra (single spectra) and their oxidation states; named by file stem (or
        the Athena group).
    window : (lo, hi) in eV or "LO:HIeV", optional
        Fitting window; default all of the sample's energies that every standard covers.
    energies, i0 : optional
        For TIFF stacks: energies file (one eV per line) and incident intensity.
    normalise : bool
        Edge-step normalise every spectrum (standards each on their own e0; a map with the e0 of
        its mean spectrum for all pixels) with ``pre``, ``norm`` and ``norm_order`` (see
        :func:`lithmap.normalise`) before fitting.
    align : bool
        Where reference channels (``mu_ref``) exist, shift each spectrum's energies so that its
        reference lines up with the first sample's (or, without one, the first standard's),
        comparing derivatives from the tabulated edge −10 eV to +5 eV.
    sum_to_one, nonneg, offset
        As for :func:`fit_lcf`.
    mask : array_like of bool, DataArray, str or Path, optional
        As for :func:`fit_lcf` (only with a single sample); a path (mask image, or a result
        with a ``mask`` variable) is read by :func:`lithmap.read_mask` (its one mask rule).

    Returns
    -------
    xarray.Dataset
        :func:`fit_lcf`'s variables (with a ``sample`` dim for several samples), plus
        ``edge_step`` and ``e0`` of the samples, ``standard_e0``, ``standard_energy_shift``,
        ``sample_energy_shift``; attrs ``window_lo``/``window_hi`` (eV), the files, ``normalised``
        (0/1), ``aligned`` (0/1) and the normalisation ranges.

    Raises
    ------
    LithmapError
        A file that cannot be read (named, with what is wrong), a standard that is an image or
        has no edge step, a window outside the data, collinear standards.

    Examples
    --------
    Mn3O4 (nominally Mn 2.67+) against the MnO, Mn2O3 and MnO2 standards, all real scans:

    >>> import lithmap
    >>> std = [f"{lithmap.example_file(n + '_rt_01.xdi')}:{v}" for n, v in (("MnO", 2), ("Mn2O3", 3), ("MnO2", 4))]
    >>> ds = lcf_from_files(lithmap.example_file("Mn3O4_rt_02.xdi"), std, window="6535:6580eV")
    >>> round(float(ds.mean_valence), 2), ds["weights"].dims, ds.attrs["normalised"]
    (2.63, ('standard',), 1)
    """
    sample_paths = [samples] if isinstance(samples, (str, Path)) else list(samples)
    if not sample_paths:
        raise LithmapError("no sample given")
    specs = [parse_standard(s) for s in standards]
    if not specs:
        raise LithmapError("no standards given; pass FILE:VALENCE for each")
    win = parse_window(window) if window is not None else None
    if mask is not None and len(sample_paths) > 1:
        raise LithmapError("a mask applies to a single sample; fit the samples one at a time")
    if isinstance(mask, (str, Path)):
        from ..io.masks import read_mask

        mask = read_mask(mask, ndim=None).values

    std_names = _unique_names([p for p, _ in specs])
    std_ds = []
    for path, _ in specs:
        ds = _io.read_spectra(path)
        if ds["mu"].ndim != 1:
            raise LithmapError(f"standard {path!r} is an image {dict(ds['mu'].sizes)}; a standard must be one spectrum")
        std_ds.append(ds)
    smp_ds = [_io.read_spectra(p, energies=energies, i0=i0) for p in sample_paths]
    valences = [v for _, v in specs]

    # energy alignment on the reference channels
    std_shift = np.zeros(len(std_ds))
    smp_shift = np.zeros(len(smp_ds))
    target = next((d for d in smp_ds + std_ds if "mu_ref" in d), None)
    if align and target is not None:
        awin = _align_window(target)
        for group, shifts in ((std_ds, std_shift), (smp_ds, smp_shift)):
            for i, d in enumerate(group):
                if "mu_ref" in d and d is not target:
                    shifts[i] = _sp.align(d["energy"].values, d["mu_ref"].values, target["mu_ref"].values,
                                          target["energy"].values, window=awin)
        std_ds = [d.assign_coords(energy=d["energy"] + s) if s else d for d, s in zip(std_ds, std_shift)]
        smp_ds = [d.assign_coords(energy=d["energy"] + s) if s else d for d, s in zip(smp_ds, smp_shift)]

    # normalisation
    std_e0 = np.full(len(std_ds), np.nan)
    std_mu = {}
    for i, (d, name, (path, _)) in enumerate(zip(std_ds, std_names, specs)):
        mu = d["mu"]
        if normalise:
            mu, e0, step = _sp.normalise(mu, pre=pre, norm=norm, norm_order=norm_order, return_edge=True)
            std_e0[i] = float(e0)
            if not np.isfinite(float(step)):
                raise LithmapError(f"standard {path!r} has no positive edge step (e0 {float(e0):.6g} eV); "
                                   "is it an absorption spectrum of this edge?")
        std_mu[name] = mu.assign_coords(energy=d["energy"].values)

    results = []
    for d, path in zip(smp_ds, sample_paths):
        mu = d["mu"]
        e0 = step = None
        if normalise:
            if mu.ndim == 1:
                mu, e0, step = _sp.normalise(mu, pre=pre, norm=norm, norm_order=norm_order, return_edge=True)
                if not np.isfinite(float(step)):
                    raise LithmapError(f"sample {str(path)!r} has no positive edge step (e0 {float(e0):.6g} eV)")
            else:
                other = [dim for dim in mu.dims if dim != "energy"]
                mean = mu.where(np.isfinite(mu)).mean(dim=other) if mask is None else \
                    mu.where(xr.DataArray(np.asarray(mask, bool), dims=other)).mean(dim=other)
                e0c = float(_sp.find_e0(mean))
                mu, _, step = _sp.normalise(mu, e0=e0c, pre=pre, norm=norm, norm_order=norm_order, return_edge=True)
                e0 = xr.DataArray(e0c)  # one e0 for the map (its mean spectrum's): noise-proof ranges
        e = mu["energy"].values
        lo = max([e[0]] + [float(s["energy"][0]) for s in std_mu.values()])
        hi = min([e[-1]] + [float(s["energy"][-1]) for s in std_mu.values()])
        wlo, whi = win if win is not None else (lo, hi)
        mu_w = _sp.select_window(mu.assign_attrs(source=str(path)), wlo, whi)
        A = _sp.interpolate_standards(std_mu, mu_w["energy"].values)
        res = fit_lcf(mu_w, A, valences, sum_to_one=sum_to_one, nonneg=nonneg, offset=offset, mask=mask)
        if normalise:
            res["e0"] = e0.assign_attrs(units="eV", long_name="edge energy e0 (normalisation)")
            res["edge_step"] = step.assign_attrs(units="1", long_name="edge step (unnormalised mu)")
        res.attrs["window_lo"], res.attrs["window_hi"] = float(wlo), float(whi)
        results.append(res)

    if len(results) == 1:
        out = results[0]
    else:
        out = xr.concat(results, dim="sample", combine_attrs="drop_conflicts", coords="different", compat="equals")
        out = out.assign_coords(sample=("sample", [str(p) for p in sample_paths]))
        out["n_energies"] = ("sample", [r.attrs["n_energies"] for r in results])
        out["n_nan_pixels_per_sample"] = ("sample", [r.attrs["n_nan_pixels"] for r in results])
        out.attrs["n_nan_pixels"] = int(sum(r.attrs["n_nan_pixels"] for r in results))
        for key in ("window_lo", "window_hi", "n_energies", "energy_min", "energy_max", "condition_number"):
            out.attrs.pop(key, None)
        out["window_lo"] = ("sample", [r.attrs["window_lo"] for r in results], {"units": "eV"})
        out["window_hi"] = ("sample", [r.attrs["window_hi"] for r in results], {"units": "eV"})
    out = out.assign_coords(standard_file=("standard", [p for p, _ in specs]))
    shift_attrs = {"units": "eV", "long_name": "energy shift applied (alignment)"}
    out["standard_energy_shift"] = ("standard", std_shift, shift_attrs)
    if normalise:
        out["standard_e0"] = ("standard", std_e0, {"units": "eV", "long_name": "edge energy of the standard"})
    if len(results) == 1:
        out["sample_energy_shift"] = ((), float(smp_shift[0]), shift_attrs)
    else:
        out["sample_energy_shift"] = ("sample", smp_shift, shift_attrs)
    out.attrs.update({
        "samples": "; ".join(str(p) for p in sample_paths), "aligned": int(bool(align and target is not None)),
        "normalised": int(normalise),
    })
    if normalise:
        out.attrs.update({"pre_edge_range": list(map(float, pre)), "norm_range": list(map(float, norm)),
                          "norm_order": int(norm_order),
                          "attr_units": "pre_edge_range and norm_range in eV relative to e0"})
    return out
