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


@_jit
def chain_newton(y0, rhs, dh_node, volume, wa, ea, eb, tth, tln, tslope, offset, e_offset, bnodes, b_offset, bflux,
                 todo, newton_tol, max_newton):
    """One implicit stage V·y − dh·g(y) = rhs of every run of a radial (chain) batch, solved by
    Newton's method run by run, under an imposed boundary flux (current steps and rests):
    the residual, tridiagonal Jacobian, Thomas solve and stopping test fused into one pass.

    The algorithm is :meth:`lithmap.physics.solver.Solver._newton`'s (exact Jacobian, Hairer
    & Wanner's stopping test), except that each run stops as soon as it has converged instead
    of iterating until all have. ``bflux`` is b·j at the boundary nodes. Returns ``(y, ok, g,
    pa, pb, dl, d, du, solved)``: the iterate, converged per run, the residual and edge-flux
    derivatives at it, the last Jacobian (for the error estimate) and ``solved`` False where a
    pivot was too small for Thomas (the caller then falls back to the general path).
    """
    n = y0.size
    E = ea.size
    nrun = offset.size - 1
    y = y0.copy()
    g = np.zeros(n)
    pa = np.zeros(E)
    pb = np.zeros(E)
    dl = np.zeros(max(n - 1, 0))
    du = np.zeros(max(n - 1, 0))
    d = volume.copy()
    ok = np.zeros(nrun, np.bool_)
    solved = np.ones(nrun, np.bool_)
    F = np.empty(n)
    c = np.empty(n)
    x = np.empty(n)
    for r in range(nrun):
        if not todo[r]:
            continue
        n0, n1 = offset[r], offset[r + 1]
        e0, e1 = e_offset[r], e_offset[r + 1]
        prev = -1.0
        for it in range(max_newton + 1):
            # residual and flux derivatives at y
            for i in range(n0, n1):
                g[i] = 0.0
            for e in range(e0, e1):
                a = ea[e]
                b = eb[e]
                diff = y[a] - y[b]
                dd, ddd = _table_d(0.5 * (y[a] + y[b]), tth, tln, tslope)
                phi = wa[e] * dd * diff
                g[a] -= phi
                g[b] += phi
                pa[e] = wa[e] * (dd + 0.5 * ddd * diff)
                pb[e] = wa[e] * (-dd + 0.5 * ddd * diff)
            for k in range(b_offset[r], b_offset[r + 1]):
                g[bnodes[k]] -= bflux[k]
            if it == max_newton or ok[r]:
                break
            for i in range(n0, n1):
                F[i] = volume[i] * y[i] - dh_node[i] * g[i] - rhs[i]
                d[i] = volume[i]
            # tridiagonal Jacobian V + dh·∂(flux)/∂θ of this run
            for e in range(e0, e1):
                a = ea[e]
                h = dh_node[a]
                d[a] += h * pa[e]
                d[a + 1] -= h * pb[e]
                du[a] = h * pb[e]
                dl[a] = -h * pa[e]
            # Thomas
            piv = d[n0]
            if not abs(piv) > 1e-300:
                solved[r] = False
                break
            c[n0] = du[n0] / piv if n1 - n0 > 1 else 0.0
            x[n0] = F[n0] / piv
            bad = False
            for i in range(n0 + 1, n1):
                piv = d[i] - dl[i - 1] * c[i - 1]
                if not abs(piv) > 1e-14 * abs(d[i]):
                    bad = True
                    break
                if i < n1 - 1:
                    c[i] = du[i] / piv
                x[i] = (F[i] - dl[i - 1] * x[i - 1]) / piv
            if bad:
                solved[r] = False
                break
            for i in range(n1 - 2, n0 - 1, -1):
                x[i] -= c[i] * x[i + 1]
            size = 0.0
            for i in range(n0, n1):
                y[i] -= x[i]
                if abs(x[i]) > size:
                    size = abs(x[i])
            if not np.isfinite(size):
                break
            if prev < 0.0:
                conv = size <= 0.1 * newton_tol
            else:
                rate = size / prev if prev > 0 else 0.0
                conv = size <= 0.1 * newton_tol or (rate < 0.9 and rate / (1 - min(rate, 0.9)) * size <= newton_tol)
            ok[r] = conv  # the residual at the new iterate is evaluated at the top of the loop
            prev = size
    return y, ok, g, pa, pb, dl, d, du, solved
