"""Closed-form solutions from ../shared/reference/analytic-benchmarks.md, computed independently
of lithmap (series with scipy root finding)."""

import functools

import numpy as np
from scipy.optimize import brentq
from scipy.special import j0, j1


@functools.cache
def sphere_roots(n=400):
    """Positive roots of tan λ = λ."""
    out = []
    for k in range(1, n + 1):
        lo, hi = k * np.pi + 1e-12, k * np.pi + np.pi / 2 - 1e-12
        out.append(brentq(lambda x: np.sin(x) - x * np.cos(x), lo, hi))
    return np.array(out)


@functools.cache
def disc_roots(n=400):
    """Positive roots of J1(β) = 0."""
    out = []
    for k in range(1, n + 1):
        guess = (k + 0.25) * np.pi
        out.append(brentq(j1, guess - 1.2, guess + 1.2))
    return np.array(out)


def sphere_theta(x, tau, theta0, K):
    """θ(x = r/R, τ = Dt/R²) for constant outward flux (K = JR/(D c_max)) on a sphere."""
    x = np.atleast_1d(np.asarray(x, float))
    lam = sphere_roots()
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(x[:, None] > 0, np.sin(lam * x[:, None]) / (x[:, None] * np.sin(lam)), lam / np.sin(lam))
    s = np.sum(ratio / lam**2 * np.exp(-(lam**2) * tau), axis=1)
    return theta0 - K * (3 * tau + x**2 / 2 - 3 / 10 - 2 * s)


def disc_theta(x, tau, theta0, K):
    """θ(x, τ) for constant outward flux on a disc / infinite cylinder."""
    x = np.atleast_1d(np.asarray(x, float))
    beta = disc_roots()
    s = np.sum(j0(beta * x[:, None]) / (beta**2 * j0(beta)) * np.exp(-(beta**2) * tau), axis=1)
    return theta0 - K * (2 * tau + x**2 / 2 - 1 / 4 - 2 * s)
