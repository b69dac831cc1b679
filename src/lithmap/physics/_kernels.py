"""Compiled inner loops: face fluxes with a tabulated or constant D(θ) on any mesh, and the
tridiagonal Jacobian and solve of radial (chain) meshes.

The engine's algorithm is the same with or without these; they fuse the per-node work of one
Newton iteration (face fluxes + residual, tridiagonal Jacobian, Thomas solve) into single
passes. Used when numba is importable; otherwise the engine's NumPy path runs.
"""

from __future__ import annotations

import numpy as np

try:
    import numba as nb

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency, this guards odd platforms
    HAVE_NUMBA = False


def _jit(func):
    return nb.njit(cache=True, nogil=True)(func) if HAVE_NUMBA else func


@_jit
def _table_d(m, tth, tln, tslope):
    """D and dD/dθ from a log-linear table (flat outside)."""
    n = tth.size
    if n == 1:
        return np.exp(tln[0]), 0.0
    if m <= tth[0]:
        return np.exp(tln[0]), 0.0
    if m >= tth[n - 1]:
        return np.exp(tln[n - 1]), 0.0
    k = 0
    while k < n - 2 and m >= tth[k + 1]:
        k += 1
    d = np.exp(tln[k] + tslope[k] * (m - tth[k]))
    return d, d * tslope[k]


@_jit
def edge_g(y, wa, ea, eb, tth, tln, tslope):
    """Edge part of the residual g and the flux derivatives for edges (ea, eb), D at the face."""
    n = y.size
    g = np.zeros(n)
    E = ea.size
    pa = np.empty(E)
    pb = np.empty(E)
    for e in range(E):
        a = ea[e]
        b = eb[e]
        diff = y[a] - y[b]
        d, dd = _table_d(0.5 * (y[a] + y[b]), tth, tln, tslope)
        phi = wa[e] * d * diff
        g[a] -= phi
        g[b] += phi
        pa[e] = wa[e] * (d + 0.5 * dd * diff)
        pb[e] = wa[e] * (-d + 0.5 * dd * diff)
    return g, pa, pb


@_jit
def chain_jacobian(own, dh_node, pa, pb, pos):
    """Tridiagonal V + dh·∂(flux)/∂θ: returns (dl, d, du)."""
    n = own.size
    d = own.copy()
    du = np.zeros(n - 1)
    dl = np.zeros(n - 1)
    for e in range(pos.size):
        a = pos[e]
        h = dh_node[a]
        d[a] += h * pa[e]
        d[a + 1] -= h * pb[e]
        du[a] = h * pb[e]
        dl[a] = -h * pa[e]
    return dl, d, du


@_jit
def thomas(dl, d, du, rhs):
    """Tridiagonal solve without pivoting; returns (x, ok). ok is False on a tiny pivot."""
    n = d.size
    c = np.empty(n)
    x = np.empty(n)
    piv = d[0]
    if not abs(piv) > 1e-300:
        return x, False
    c[0] = du[0] / piv if n > 1 else 0.0
    x[0] = rhs[0] / piv
    for i in range(1, n):
        piv = d[i] - dl[i - 1] * c[i - 1]
        if not abs(piv) > 1e-14 * abs(d[i]):
            return x, False
        if i < n - 1:
            c[i] = du[i] / piv
        x[i] = (rhs[i] - dl[i - 1] * x[i - 1]) / piv
    for i in range(n - 2, -1, -1):
        x[i] -= c[i] * x[i + 1]
    return x, True
