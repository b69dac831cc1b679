"""Linear-combination fitting (LCF) of absorption spectra, every pixel at once and exactly.

Each pixel's spectrum b (n energies) is fitted with the k standards as the columns of A, by one
of two models:

    "amplitudes" (maps):   min ||A a + C β − b||²   subject to   a ≥ 0,  β free
    "sum-to-one" (single): min ||A w − b||²         subject to   w ≥ 0 and Σ w = 1

where C holds a polynomial background in energy (1 and E by default: a pre-edge slope and an
optical-density offset) and the fractions of the amplitudes model are a / Σa — invariant to a
pixel's thickness and edge step, so raw optical density is fitted as it is; Σa is the edge
jump. (Earlier calls with ``sum_to_one``/``offset`` alone select the same fits as before.) The
free background is projected out of the normal equations (a Schur complement of its Gram
block), which leaves the same problem on A with a modified Gram matrix.

The data are read once: the Gram matrix G = AᵀA is the standards' own, and Aᵀb, Cᵀb and bᵀb
for all pixels come from one pass over the cube (a compiled loop, or BLAS on cache-sized
chunks). Everything after that works on those few numbers per pixel:

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


def _check_rank(A, names, C):
    """Condition number of the standards plus the background columns ``C`` (n, m); collinear
    standards (or a standard that is a background) raise, naming them."""
    n, k = A.shape
    m = C.shape[1]
    need = k + m
    if n < need:
        extra = f" plus a background of {m} terms" if m else ""
        raise LithmapError(f"{n} energies cannot determine {k} standards{extra}; the window needs at least {need + 1}")
    labels = names + (["offset"] if m == 1 else [f"background x^{j}" for j in range(m)])
    M = np.concatenate([A, C], axis=1)
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


MODELS = ("amplitudes", "sum-to-one")


def _resolve_model(model, sum_to_one, offset, background, single):
    """``(model, sum_to_one, background order or -1)`` from the keywords (see :func:`fit_lcf`)."""
    if model is not None and model not in MODELS:
        raise LithmapError(f"model={model!r} is invalid; expected one of {', '.join(map(repr, MODELS))}")
    if model is None:
        if sum_to_one is None:
            model = "sum-to-one" if single else "amplitudes"
        else:  # the pre-model keywords alone: their fit, as before
            model = "sum-to-one" if sum_to_one else "free"
    elif sum_to_one is not None and bool(sum_to_one) != (model == "sum-to-one"):
        raise LithmapError(f"sum_to_one={sum_to_one!r} contradicts model={model!r}; give one of them")
    if background is None:
        order = 1 if model == "amplitudes" else (0 if offset else -1)
    else:
        if isinstance(background, bool) or int(background) != background or not -1 <= int(background) <= 3:
            raise LithmapError(f"background={background!r} is invalid; expected a polynomial order 0-3, or -1 "
                               "for none")
        order = int(background)
        if offset and order < 0:
            raise LithmapError("offset=True asks for a background but background=-1 forbids one; give one of them")
    return model, model == "sum-to-one", order


def _background_columns(n, order, energy):
    """``(columns (n, order + 1), centre, half-width)``: 1, x, x², … with x the energy (else the
    index) centred on the window and scaled to ±1."""
    grid = np.asarray(energy, float) if energy is not None else np.arange(n, dtype=float)
    xc, xs = 0.5 * (grid[0] + grid[-1]), 0.5 * (grid[-1] - grid[0])
    xs = xs if xs > 0 else 1.0
    return np.vander((grid - xc) / xs, order + 1, increasing=True), xc, xs


def _small_matmul(X, M):
    """X (N, p) @ M (p, q) for tiny p, q as column sums: a BLAS call for a (N, 2) × (2, 3)
    product is slower, and much slower with its threads on a busy machine."""
    out = np.zeros((X.shape[0], M.shape[1]))
    for i in range(M.shape[1]):
        for j in range(M.shape[0]):
            out[:, i] += X[:, j] * M[j, i]
    return out


def fit_lcf(sample, standards, valences=None, *, dim: str = "energy", names=None, model: str | None = None,
            sum_to_one: bool | None = None, nonneg: bool = True, offset: bool = False, background: int | None = None,
            mask=None, use_numba: bool | None = None) -> xr.Dataset:
    """Fit every pixel's spectrum as a linear combination of standards, exactly.

    Two models, exact to rounding with one pass over the data (see the module notes):

    - ``"amplitudes"`` (the default for maps, volumes, any stack of spectra): free amplitudes
      a ≥ 0 of the (normalised) standards plus a free polynomial background (constant + linear
      in energy by default), min ||A a + background − b||²; the fractions are ``weights`` =
      a / Σa and Σa is the ``edge_jump``. Scaling a pixel (thickness) scales a and leaves the
      fractions unchanged; a sloped pre-edge or an optical-density offset goes into the
      background. Raw optical density needs no per-pixel normalisation.
    - ``"sum-to-one"`` (the default for a single spectrum): weights w ≥ 0 with Σw = 1 on
      normalised spectra, the Athena/Larch convention; fewer free parameters, so less noise when
      the spectrum is normalised over a wide range, but biased when it is not.

    Parameters
    ----------
    sample : array_like (..., n_energy) or xarray.DataArray
        One spectrum, a map (y, x, n_energy), a volume, ...; a DataArray may put its energy
        dim ``dim`` anywhere (e.g. (energy, y, x) as read from a stack) and keeps its other
        dims and coordinates; an array has the energy last. float32 data are accumulated in
        float64.
    standards : array_like (n_energy, k) or xarray.DataArray (energy, standard)
        The standard spectra on the sample's energies (see ``interpolate_standards``), normally
        edge-step normalised (:func:`lithmap.normalise`), so that amplitudes are edge jumps.
    valences : sequence of k floats, optional
        Oxidation state of each standard; gives ``mean_valence``.
    dim : str
        The energy dim of DataArray ``sample`` and ``standards``.
    names : sequence of k str, optional
        Standard names (default: the DataArray's ``standard`` coordinate, or standard_0, ...).
    model : {"amplitudes", "sum-to-one"}, optional
        The fit (above). Default: ``"sum-to-one"`` for a single spectrum (no other dims),
        ``"amplitudes"`` otherwise — unless ``sum_to_one`` is given, which alone selects the
        earlier fits (Σw = 1, or free weights without a background).
    sum_to_one : bool, optional
        Σw = 1 (True) or free weights used as they are (False; no background unless
        ``offset``/``background``); kept for earlier calls, ``model`` is the option to use.
    nonneg : bool
        Weights/amplitudes ≥ 0 (default). Without it the problem is plain least squares.
    offset : bool
        A constant background (order 0) with ``"sum-to-one"`` or free weights: output ``offset``.
    background : int, optional
        Order of the free polynomial background in energy (0 constant, 1 + linear, up to 3;
        -1 none). Default 1 for ``"amplitudes"``, none for ``"sum-to-one"`` (0 with ``offset``).
    mask : array_like of bool, optional
        Pixels to fit (True: inside a particle); others are NaN. Shape of ``sample`` without
        the energy axis.
    use_numba : bool, optional
        Compiled kernels (default when numba is installed) or the vectorised NumPy path; both
        compute the same candidates.

    Returns
    -------
    xarray.Dataset
        ``weights`` (..., standard; fractions, Σ = 1 except for free weights), ``fit_sum`` (sum
        of the fitted weights or amplitudes), ``residual`` (rms of data − fit, in the data's
        units), ``r_factor`` Σ(data − fit)²/Σdata², ``mean_valence`` (Σ w v / Σ w, with
        ``valences``); for ``"amplitudes"`` also ``amplitude`` (..., standard) and
        ``edge_jump`` = Σa (in the data's units per unit of the standards: with normalised
        standards, the pixel's edge step — a thickness map); ``offset`` (a constant
        background) or ``background`` (..., background_order: coefficients of
        ((E − ``background_centre``)/eV)^j); coordinates ``standard`` (and ``valence``); attrs
        ``model``, ``n_nan_pixels`` (pixels in the mask with NaN or infinite data, set NaN),
        ``n_masked_pixels``, ``n_energies``, ``condition_number`` and the constraints. Pixels
        whose amplitudes are all 0 (no edge) have NaN weights and mean valence.

    Raises
    ------
    LithmapError
        Fewer energies than unknowns, NaN or collinear standards (named), shapes that do not
        match, valences of the wrong length, an unknown ``model``.

    Notes
    -----
    The background columns are free in sign and are projected out of the normal equations
    (a Schur complement on the Gram matrix), so the active-set enumeration runs over the
    standards alone. Residuals come from the Gram identity ||b − Aw||² = r_u +
    (w − w_u)ᵀG(w − w_u) without a second pass over the data, so they carry a rounding error of
    about eps·cond(G)·bᵀb (absolute): relative 1e-9 on a 1 % fit of the Mn standards.

    Examples
    --------
    >>> A = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [3.0, 0.0]])
    >>> b = A @ [0.25, 0.75]
    >>> ds = fit_lcf(b, A, valences=[2, 4])
    >>> ds.attrs["model"], np.round(ds.weights.values, 6).tolist(), round(float(ds.mean_valence), 6)
    ('sum-to-one', [0.25, 0.75], 3.5)

    A map: pixels of the same mixture, 1× and 3× as thick on sloped backgrounds.

    >>> e = np.linspace(6530.0, 6600.0, 50)
    >>> std = np.stack([1 / (1 + np.exp(-(e - 6545) / 2)), 1 / (1 + np.exp(-(e - 6552) / 2))], axis=1)
    >>> mix = std @ [0.25, 0.75]
    >>> pixels = np.stack([mix + 0.1, 3 * mix + 0.5 - 0.002 * (e - 6530)])
    >>> ds = fit_lcf(pixels, std, [2, 4])
    >>> ds.attrs["model"], np.round(ds.mean_valence.values, 6).tolist(), np.round(ds.edge_jump.values, 6).tolist()
    ('amplitudes', [3.5, 3.5], [1.0, 3.0])
    """
    A, names, std_energy = _standards_matrix(standards, names, dim)
    n, k = A.shape
    arr, axis, dims, coords, energy = _sample_layout(sample, n, std_energy, dim)
    model, st1, order = _resolve_model(model, sum_to_one, offset, background, single=not dims)
    e_fit = energy if energy is not None else std_energy
    C, xc, xs = _background_columns(n, order, e_fit) if order >= 0 else (np.zeros((n, 0)), 0.0, 1.0)
    m_bg = C.shape[1]
    cond = _check_rank(A, names, C)
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

    # one pass: Aᵀb and the non-constant background columns' Cᵀb, Σb, bᵀb
    proj, bb = _sufficient_stats(arr, axis, np.concatenate([A, C[:, 1:]], axis=1), use_numba=use_numba)
    c = proj[:, :k]
    sb = proj[:, -1]
    G = A.T @ A
    bbc = bb
    if m_bg:  # project the free background out: Schur complement of its Gram block
        cC = np.concatenate([sb[:, None], proj[:, k:k + m_bg - 1]], axis=1)  # Cᵀb (N, m)
        GAC = A.T @ C
        H = np.linalg.inv(C.T @ C)
        H = 0.5 * (H + H.T)
        P = H @ GAC.T  # (m, k)
        G = G - GAC @ P
        with np.errstate(invalid="ignore"):
            c = c - _small_matmul(cC, P)
            bbc = bb - np.einsum("ij,ij->i", _small_matmul(cC, H), cC)
    G = 0.5 * (G + G.T)
    Ginv = np.linalg.inv(G)
    Ginv = 0.5 * (Ginv + Ginv.T)
    Gi, u, usum = _prepare(G, st1, nonneg)
    if HAVE_NUMBA if use_numba is None else use_numba:
        w = np.empty((npix, k))
        rss = np.empty(npix)
        _solve_compiled(np.ascontiguousarray(c), bbc, G, Ginv, Gi, u, usum, bool(st1), bool(nonneg), w, rss)
        w, rss = _finish(w, rss, st1, nonneg)
    else:
        w = np.empty((npix, k))
        rss = np.empty(npix)
        for j0 in range(0, npix, _SOLVE_CHUNK):
            sl = slice(j0, min(npix, j0 + _SOLVE_CHUNK))
            w[sl], rss[sl] = _solve_numpy(c[sl], bbc[sl], G, Ginv, Gi, u, usum, st1, nonneg)

    finite = np.isfinite(bb) & np.isfinite(sb)
    n_nan = int(np.count_nonzero(m & ~finite))
    drop = ~m | ~finite
    w[drop] = np.nan
    rss[drop] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        fit_sum = np.einsum("ij->i", w)
        rms = np.sqrt(rss / n)
        rfac = rss / bb
        frac = w / fit_sum[:, None] if model == "amplitudes" else w
    if model == "amplitudes":  # no edge (amplitudes zero to rounding): fractions undefined
        with np.errstate(invalid="ignore"):
            tiny = 1e-9 * np.sqrt(np.maximum(bb, 0.0) / n) / np.sqrt(np.mean(A * A))
            frac[~(fit_sum > tiny)] = np.nan
    out_shape = spatial
    px = tuple(dims)
    data_vars = {
        "weights": (px + ("standard",), frac.reshape(out_shape + (k,)),
                    {"long_name": "fraction of each standard", "units": "1"}),
        "fit_sum": (px, fit_sum.reshape(out_shape), {"long_name": "sum of the fitted weights", "units": "1"}),
        "residual": (px, rms.reshape(out_shape),
                     {"long_name": "rms of data - fit over the fitted energies", "units": "1"}),
        "r_factor": (px, rfac.reshape(out_shape),
                     {"long_name": "sum (data - fit)^2 / sum data^2", "units": "1"}),
    }
    if model == "amplitudes":
        data_vars["amplitude"] = (px + ("standard",), w.reshape(out_shape + (k,)),
                                  {"long_name": "amplitude of each standard", "units": "1"})
        data_vars["edge_jump"] = (px, fit_sum.reshape(out_shape),
                                  {"long_name": "edge jump (sum of the amplitudes; thickness)", "units": "1"})
    out_coords = dict(coords)
    out_coords["standard"] = ("standard", names)
    if valences is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            mv = np.einsum("ij,j->i", w, v) / fit_sum
        mv[np.isnan(frac).any(axis=1)] = np.nan
        data_vars["mean_valence"] = (px, mv.reshape(out_shape),
                                     {"long_name": "weighted mean oxidation state", "units": "1"})
        out_coords["valence"] = ("standard", v, {"long_name": "oxidation state of the standard"})
    attrs = {
        "method": "exact constrained least squares (active-set enumeration on the Gram matrix)",
        "model": model, "sum_to_one": int(st1), "nonneg": int(nonneg), "offset": int(order >= 0),
        "background_order": order, "n_energies": int(n), "n_nan_pixels": n_nan,
        "n_masked_pixels": int(np.count_nonzero(~m)), "condition_number": cond,
    }
    if m_bg:
        with np.errstate(invalid="ignore"):
            beta = _small_matmul(cC - _small_matmul(np.nan_to_num(w), GAC), H)  # coefficients in the scaled x
        beta = beta / xs ** np.arange(m_bg)  # per eV^j (per index^j without energies)
        beta[drop] = np.nan
        if order == 0:
            data_vars["offset"] = (px, beta[:, 0].reshape(out_shape),
                                   {"long_name": "constant offset fitted", "units": "1"})
        else:
            data_vars["background"] = (px + ("background_order",), beta.reshape(out_shape + (m_bg,)),
                                       {"long_name": "background polynomial coefficients",
                                        "units": "eV^-order" if e_fit is not None else "index^-order"})
            out_coords["background_order"] = ("background_order", np.arange(m_bg))
            attrs["background_centre"] = float(xc)
    if e_fit is not None:
        attrs["energy_min"] = float(np.min(e_fit))
        attrs["energy_max"] = float(np.max(e_fit))
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


def _check_energy_units(mu, std_lo, path):
    """Sample energies in keV against standards in eV: one line saying so (not a window error)."""
    e = np.asarray(mu["energy"].values, float)
    if e.size and np.nanmax(e) < 100 and std_lo > 1000:
        raise LithmapError(f"sample {str(path)!r}: energies look like keV ({np.nanmin(e):.6g}-{np.nanmax(e):.6g}) "
                           f"but the standards are in eV (from {std_lo:.6g}); give the energies in eV")


def _own_mask(path, mu):
    """The ``mask`` a lithmap result file stores beside its spectra (``lithmap reconstruct``,
    ``lithmap lcf``) as a boolean array on the spectra's pixel dims, or None; read by
    :func:`lithmap.read_mask` (its rule: above half the maximum)."""
    if not isinstance(path, (str, Path)) or Path(str(path)).suffix.lower() not in (".nc", ".h5", ".hdf5"):
        return None
    from ..io.masks import read_mask

    pixel_dims = [d for d in mu.dims if d != "energy"]
    try:
        m = read_mask(path, ndim=None)
    except LithmapError:
        return None
    if set(m.dims) != set(pixel_dims):
        return None
    return np.asarray(m.transpose(*pixel_dims).values, bool)


def _map_mask(mu, mask, auto_mask, win, std_mu, path):
    """``(mask, rule, threshold)`` of a map or volume: the user's mask, lithmap's edge-step
    particle (:func:`lithmap.spectro.spectra.edge_mask`), or all pixels; an energy inside the
    fitting window at which every pixel is NaN is an error naming it."""
    axis = mu.dims.index("energy")
    e = np.asarray(mu["energy"].values, float)
    other = tuple(i for i in range(mu.ndim) if i != axis)
    empty = ~np.isfinite(np.asarray(mu.values)).any(axis=other)
    if empty.any():
        lo = max([e[0]] + [float(s["energy"][0]) for s in std_mu.values()])
        hi = min([e[-1]] + [float(s["energy"][-1]) for s in std_mu.values()])
        wlo, whi = win if win is not None else (lo, hi)
        inside = empty & (e >= wlo) & (e <= whi)
        if inside.any():
            bad = ", ".join(f"{v:.6g}" for v in e[inside][:5]) + (" ..." if inside.sum() > 5 else "")
            raise LithmapError(f"sample {str(path)!r} is NaN in every pixel at {bad} eV (inside the fitting window "
                               f"{wlo:.6g}-{whi:.6g} eV); drop that energy or choose a --window without it")
    if mask is not None:
        return np.asarray(mask, bool), "mask given", 0.0
    if not auto_mask:
        return np.ones(tuple(mu.shape[i] for i in other), bool), "all pixels (no mask)", 0.0
    try:
        em = _sp.edge_mask(mu.isel(energy=np.flatnonzero(~empty)) if empty.any() else mu)
    except LithmapError as exc:
        raise LithmapError(f"sample {str(path)!r}: no particle mask from the edge step ({str(exc).splitlines()[0]}); "
                           "give --mask FILE, or --no-auto-mask to fit every pixel") from None
    if not em.mask.any():
        raise LithmapError(f"sample {str(path)!r} has no pixel with an absorption edge ({em.rule}); "
                           "give --mask FILE, or --no-auto-mask to fit every pixel")
    return em.mask, em.rule, em.threshold


def lcf_from_files(samples, standards, *, window=None, energies=None, i0=None, normalise: bool = True,
                   align: bool = True, model: str | None = None, sum_to_one: bool | None = None, nonneg: bool = True,
                   offset: bool = False, background: int | None = None, mask=None, auto_mask: bool = True,
                   pre=None, norm=None, norm_order: int | None = None) -> xr.Dataset:
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
        Edge-step normalise the standards over their whole measured range as Athena/Larch's
        ``pre_edge`` does (e0 by Larch's rule; ``pre``, ``norm``, ``norm_order`` as in
        :func:`lithmap.normalise`, default Larch's), and the samples fitted with
        ``"sum-to-one"`` the same way (a map with the e0 of its mean spectrum for all pixels).
        Samples fitted with ``"amplitudes"`` are fitted as they are (raw optical density or
        normalised: the same fractions), so a map measured over a narrow window is never
        normalised inside it.
    align : bool
        Where reference channels (``mu_ref``) exist, shift each spectrum's energies so that its
        reference lines up with the first sample's (or, without one, the first standard's),
        comparing derivatives from the tabulated edge −10 eV to +5 eV.
    model : {"amplitudes", "sum-to-one"}, optional
        As for :func:`fit_lcf`: default ``"sum-to-one"`` for a single spectrum, ``"amplitudes"``
        (free non-negative amplitudes of the normalised standards plus a linear background;
        fractions = amplitudes / their sum, invariant to thickness) for maps and volumes.
    sum_to_one, nonneg, offset, background
        As for :func:`fit_lcf`.
    mask : array_like of bool, DataArray, str or Path, optional
        As for :func:`fit_lcf` (only with a single sample); a path (mask image, or a result
        with a ``mask`` variable) is read by :func:`lithmap.read_mask` (its one mask rule);
        ``"none"`` fits every pixel. Default for a map or volume: ``auto_mask``.
    auto_mask : bool
        Without ``mask``, fit only a map's (volume's) particle: the pixels with an edge, by
        lithmap's one rule (:func:`lithmap.spectro.spectra.edge_mask`, which ``clusters`` uses:
        Otsu's threshold on the logarithm of the edge step, applied only when the steps split
        into a near-zero class and a particle class). Pixels outside get NaN weights and
        valence. Single spectra are never masked.

    Returns
    -------
    xarray.Dataset
        :func:`fit_lcf`'s variables (with a ``sample`` dim for several samples), plus
        ``edge_step`` and ``e0`` of the normalised samples, ``standard_e0``,
        ``standard_edge_step``, ``standard_energy_shift``, ``sample_energy_shift``; for a map
        or volume ``mask`` (the pixels fitted as particle: what ``clusters --mask`` and
        ``shells --mask`` take) with attrs ``mask_rule`` and ``edge_step_threshold``; attrs
        ``model``, ``window_lo``/``window_hi`` (eV), the files, ``normalised`` (0/1: the
        standards), ``aligned`` (0/1) and the normalisation settings.

    Raises
    ------
    LithmapError
        A file that cannot be read (named, with what is wrong), a standard that is an image or
        has no edge step, a window outside the data, collinear standards, sample energies that
        look like keV, an energy inside the window at which every pixel is NaN.

    Examples
    --------
    Mn3O4 (nominally Mn 2.67+) against the MnO, Mn2O3 and MnO2 standards, all real scans:

    >>> import lithmap
    >>> std = [f"{lithmap.example_file(n + '_rt_01.xdi')}:{v}" for n, v in (("MnO", 2), ("Mn2O3", 3), ("MnO2", 4))]
    >>> ds = lcf_from_files(lithmap.example_file("Mn3O4_rt_02.xdi"), std, window="6535:6580eV")
    >>> round(float(ds.mean_valence), 2), ds["weights"].dims, ds.attrs["model"]
    (2.64, ('standard',), 'sum-to-one')
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
    if isinstance(mask, str) and mask.strip().lower() == "none":
        mask, auto_mask = None, False
    elif isinstance(mask, (str, Path)):
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
    std_step = np.full(len(std_ds), np.nan)
    std_mu = {}
    nkw = {"pre": pre, "norm": norm, "norm_order": norm_order, "return_edge": True}
    for i, (d, name, (path, _)) in enumerate(zip(std_ds, std_names, specs)):
        mu = d["mu"]
        if normalise:
            mu, e0, step = _sp.normalise(mu, e0="larch", **nkw)
            std_e0[i], std_step[i] = float(e0), float(step)
            if not np.isfinite(float(step)):
                raise LithmapError(f"standard {path!r} has no positive edge step (e0 {float(e0):.6g} eV); "
                                   "is it an absorption spectrum of this edge?")
        std_mu[name] = mu.assign_coords(energy=d["energy"].values)

    std_lo = max(float(s["energy"][0]) for s in std_mu.values())
    results = []
    for d, path in zip(smp_ds, sample_paths):
        mu = d["mu"]
        e0 = step = None
        _check_energy_units(mu, std_lo, path)
        used_mask, mask_rule, threshold = mask, None, None
        if mu.ndim > 1:
            own = _own_mask(path, mu) if mask is None and auto_mask else None  # reconstruct's, lcf's
            used_mask, mask_rule, threshold = _map_mask(mu, mask if own is None else own, auto_mask, win, std_mu,
                                                        path)
            if own is not None:
                mask_rule = f"the mask stored in {Path(str(path)).name}"
        kind, _, _ = _resolve_model(model, sum_to_one, offset, background, single=mu.ndim == 1)
        norm_sample = normalise and kind != "amplitudes"  # amplitudes: invariant to it, and never in a window
        if norm_sample:
            if mu.ndim == 1:
                mu, e0, step = _sp.normalise(mu, e0="larch", **nkw)
                if not np.isfinite(float(step)):
                    raise LithmapError(f"sample {str(path)!r} has no positive edge step (e0 {float(e0):.6g} eV)")
            else:
                other = [dim for dim in mu.dims if dim != "energy"]
                mean = mu.where(np.isfinite(mu)).mean(dim=other) if used_mask is None else \
                    mu.where(xr.DataArray(np.asarray(used_mask, bool), dims=other)).mean(dim=other)
                e0c = float(_sp.find_e0(mean, method="larch"))
                mu, _, step = _sp.normalise(mu, e0=e0c, **nkw)
                e0 = xr.DataArray(e0c)  # one e0 for the map (its mean spectrum's): noise-proof ranges
        e = mu["energy"].values
        lo = max([e[0]] + [float(s["energy"][0]) for s in std_mu.values()])
        hi = min([e[-1]] + [float(s["energy"][-1]) for s in std_mu.values()])
        wlo, whi = win if win is not None else (lo, hi)
        mu_w = _sp.select_window(mu.assign_attrs(source=str(path)), wlo, whi)
        A = _sp.interpolate_standards(std_mu, mu_w["energy"].values)
        fit_mask = used_mask
        if mask_rule is not None and mask is None:  # auto: NaN pixels are counted as NaN, not as background
            bad = ~np.isfinite(mu_w.values).all(axis=mu_w.dims.index("energy"))
            fit_mask = used_mask | bad
        res = fit_lcf(mu_w, A, valences, model=model, sum_to_one=sum_to_one, nonneg=nonneg, offset=offset,
                      background=background, mask=fit_mask)
        if mask_rule is not None:
            other = [dim for dim in mu_w.dims if dim != "energy"]
            res["mask"] = (other, np.asarray(used_mask, bool), {"long_name": "pixels fitted (the particle)"})
            res.attrs["mask_rule"] = mask_rule
            res.attrs["edge_step_threshold"] = float(threshold)
        if norm_sample:
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
        out["standard_edge_step"] = ("standard", std_step, {"units": "1", "long_name": "edge step of the standard"})
    if len(results) == 1:
        out["sample_energy_shift"] = ((), float(smp_shift[0]), shift_attrs)
    else:
        out["sample_energy_shift"] = ("sample", smp_shift, shift_attrs)
    out.attrs.update({
        "samples": "; ".join(str(p) for p in sample_paths), "aligned": int(bool(align and target is not None)),
        "normalised": int(normalise),
    })
    if normalise:
        out.attrs["normalisation"] = "as Larch pre_edge (e0 by Larch's rule)"
        if pre is not None:
            out.attrs["pre_edge_range"] = list(map(float, pre))
        if norm is not None:
            out.attrs["norm_range"] = list(map(float, norm))
        if norm_order is not None:
            out.attrs["norm_order"] = int(norm_order)
        if pre is not None or norm is not None:
            out.attrs["attr_units"] = "pre_edge_range and norm_range in eV relative to e0"
    return out
