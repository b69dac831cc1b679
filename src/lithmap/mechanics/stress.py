"""Closed-form diffusion-induced stress in solid and hollow spheres from a radial strain field.

Linear isotropic elasticity with an isotropic eigenstrain ε*(r) (the chemical strain of
:mod:`lithmap.mechanics.strain`; the thermal-stress analogue αT → ε*), both surfaces free of
traction (Timoshenko & Goodier, *Theory of Elasticity*, §151; Cheng & Verbrugge, J. Power Sources
190, 453 (2009) for the solid sphere). With K = E/(1 − ν), a the void radius (0 for a solid
sphere), b the outer radius and M(r) = 3 ∫ₐʳ ε*(s) s² ds:

    σ_r = (2K/3) · [ (r³ − a³)/(b³ − a³) · M(b) − M(r) ] / r³
    σ_θ = (K/3)  · [ (2r³ + a³)/(r³ (b³ − a³)) · M(b) + M(r)/r³ − 3ε*(r) ]
    σ_h = (σ_r + 2σ_θ)/3,   σ_vM = |σ_r − σ_θ|

For a = 0 these are the solid-sphere forms of ``analytic-benchmarks.md`` (c) with ε* = Ω c/3
(M(r)/r³ is the mean strain inside r, → ε*(0) at the centre); for a > 0 they are (d).

The integral M is done on the nodes of the finite-volume mesh by interpolating ε* with
quadratics through three neighbouring nodes (averaging the two stencils of an interior interval)
and integrating quadratic × s² exactly (3-point Gauss–Legendre): exact for ε* of degree ≤ 2
and third order in the node spacing otherwise (tests/test_stress.py measures the order).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError

__all__ = ["cumulative_moment_matrix", "goodier_factor", "sphere_stress", "sphere_stress_arrays"]

_GAUSS_X, _GAUSS_W = np.polynomial.legendre.leggauss(3)

STRESS_META = {
    "radial_stress": "radial stress sigma_r (tension +)",
    "hoop_stress": "hoop (tangential) stress sigma_theta (tension +)",
    "hydrostatic_stress": "hydrostatic stress (sigma_r + 2 sigma_theta)/3 (tension +)",
    "von_mises_stress": "von Mises stress |sigma_r - sigma_theta|",
}


def _lagrange(nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Weights (len(x), 3) of the quadratic through ``nodes`` (3,) evaluated at ``x``."""
    x0, x1, x2 = nodes
    return np.column_stack([
        (x - x1) * (x - x2) / ((x0 - x1) * (x0 - x2)),
        (x - x0) * (x - x2) / ((x1 - x0) * (x1 - x2)),
        (x - x0) * (x - x1) / ((x2 - x0) * (x2 - x1)),
    ])


def cumulative_moment_matrix(r) -> np.ndarray:
    """The (n, n) matrix C with ``(C @ eps)[j]`` = 3 ∫_{r₀}^{r_j} ε(s) s² ds for ε at the nodes ``r``.

    Piecewise quadratic interpolation (see the module docstring), integrated exactly.

    Examples
    --------
    >>> r = np.linspace(0.0, 1.0, 5)
    >>> float((cumulative_moment_matrix(r) @ r**2)[-1])   # 3 ∫₀¹ s⁴ ds = 3/5, exact for degree ≤ 2
    0.6
    """
    r = np.asarray(r, dtype=float)
    n = r.size
    if n < 3 or not np.all(np.diff(r) > 0):
        raise LithmapError(f"radial nodes must be at least 3 increasing values, got {n}")
    piece = np.zeros((n - 1, n))
    for k in range(n - 1):
        lo, hi = r[k], r[k + 1]
        x = 0.5 * (hi - lo) * _GAUSS_X + 0.5 * (hi + lo)
        w = 0.5 * (hi - lo) * _GAUSS_W * x**2
        stencils = [s for s in (k - 1, k) if 0 <= s and s + 2 < n]
        for s in stencils:
            idx = np.arange(s, s + 3)
            piece[k, idx] += 3.0 * (w @ _lagrange(r[idx], x)) / len(stencils)
    out = np.zeros((n, n))
    out[1:] = np.cumsum(piece, axis=0)
    return out


def sphere_stress_arrays(eps, r, youngs_modulus: float, poisson_ratio: float) -> dict[str, np.ndarray]:
    """Closed-form stresses (Pa) from the eigenstrain ``eps`` (..., n) at radial nodes ``r`` (n,).

    ``r[0]`` is the void radius (0 for a solid sphere) and ``r[-1]`` the outer radius.

    Examples
    --------
    >>> r = np.linspace(0, 1e-6, 41)
    >>> s = sphere_stress_arrays(1e-3 * (r / 1e-6) ** 2, r, 1e11, 0.25)
    >>> s0 = 0.4 * 1e11 / 0.75 * 1e-3    # 2Kε_s/5: centre hoop stress of the parabolic profile ε_s (r/b)²
    >>> round(float(s["hoop_stress"][0] / s0), 9), round(float(s["hoop_stress"][-1] / s0), 9)
    (1.0, -1.0)
    """
    r = np.asarray(r, dtype=float)
    eps = np.asarray(eps, dtype=float)
    if eps.shape[-1] != r.size:
        raise LithmapError(f"strain has {eps.shape[-1]} radial values but the mesh has {r.size} nodes")
    K = youngs_modulus / (1.0 - poisson_ratio)
    a, b = r[0], r[-1]
    M = eps @ cumulative_moment_matrix(r).T
    Mb = M[..., -1:]
    r3 = r**3
    shell = b**3 - a**3
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_in = np.where(r3 > 0, M / np.where(r3 > 0, r3, 1.0), eps)  # M(r)/r³ → ε(0) at a solid centre
        fr = np.where(r3 > 0, (r3 - a**3) / np.where(r3 > 0, r3, 1.0), 1.0)  # r = 0 only when a = 0
        ft = np.where(r3 > 0, (2 * r3 + a**3) / np.where(r3 > 0, r3, 1.0), 2.0)
    radial = (2 * K / 3) * (fr / shell * Mb - mean_in)
    hoop = (K / 3) * (ft / shell * Mb + mean_in - 3 * eps)
    radial[..., -1] = 0.0  # traction-free surfaces: zero by construction, here without round-off
    if a > 0:
        radial[..., 0] = 0.0
    return {
        "radial_stress": radial,
        "hoop_stress": hoop,
        "hydrostatic_stress": (radial + 2 * hoop) / 3,
        "von_mises_stress": np.abs(radial - hoop),
    }


def sphere_stress(strain, *, youngs_modulus, poisson_ratio, r=None) -> xr.Dataset:
    """Radial, hoop, hydrostatic and von Mises stress (Pa) of a solid or hollow sphere from its
    radial chemical-strain field (closed forms; module docstring).

    Parameters
    ----------
    strain : xarray.DataArray or array
        ε*(r) or ε*(time, r), dimensionless, with dim ``r`` (m) last. ``r`` starts at the void
        radius (a hollow sphere) or at 0 (a solid sphere) and ends at the outer surface.
    youngs_modulus : float or str
        Pa or a quantity (``"100GPa"``).
    poisson_ratio : float
    r : array, optional
        Node radii, m, when ``strain`` is a plain array.

    Returns
    -------
    xarray.Dataset
        ``radial_stress``, ``hoop_stress``, ``hydrostatic_stress``, ``von_mises_stress`` (Pa)
        on the dims of ``strain``; E and ν as attrs.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> r = np.linspace(0.5e-6, 8e-6, 401)
    >>> eps = xr.DataArray(-1e-3 * (r / 8e-6) ** 2, dims="r", coords={"r": r})
    >>> ds = sphere_stress(eps, youngs_modulus="100GPa", poisson_ratio=0.3)
    >>> float(ds.radial_stress[0]), float(ds.radial_stress[-1])   # traction-free void and surface
    (0.0, 0.0)
    """
    from .strain import elastic_constants

    E, nu = elastic_constants(youngs_modulus=youngs_modulus, poisson_ratio=poisson_ratio)
    if isinstance(strain, xr.DataArray):
        if "r" not in strain.dims:
            raise LithmapError(f"strain has dims {strain.dims}; the closed forms need a radial dim 'r'")
        da = strain.transpose(..., "r")
        rr = np.asarray(da["r"].values if "r" in da.coords else r, dtype=float)
        fields = sphere_stress_arrays(da.values, rr, E, nu)
        coords = {k: v for k, v in da.coords.items()}
        dims = da.dims
    else:
        if r is None:
            raise LithmapError("give r (node radii, m) with a plain strain array")
        rr = np.asarray(r, dtype=float)
        fields = sphere_stress_arrays(strain, rr, E, nu)
        dims = ("time", "r")[-np.ndim(strain):] if np.ndim(strain) <= 2 else None
        if dims is None:
            raise LithmapError("a plain strain array must be (r,) or (time, r)")
        coords = {"r": ("r", rr, {"units": "m", "long_name": "radial position"})}
    ds = xr.Dataset({k: (dims, v, {"units": "Pa", "long_name": STRESS_META[k]}) for k, v in fields.items()},
                    coords=coords)
    ds.attrs.update(youngs_modulus=E, poisson_ratio=nu, void_radius=float(rr[0]), particle_radius=float(rr[-1]),
                    stress_method="closed form, spherical symmetry (Timoshenko & Goodier; Cheng & Verbrugge 2009)")
    return ds


def goodier_factor(void, radius) -> float:
    """Hoop stress at a central void over the solid sphere's centre hoop stress, for the long-time
    constant-current (parabolic, ε* ∝ r²) strain on both: 1.5·(1 − α⁵)/(1 − α³) − 2.5·α², α = a/b.
    It tends to Goodier's factor 3/2 for a small cavity in a uniform hydrostatic field.

    Parameters
    ----------
    void, radius : float or str
        Void and outer radius, m or with units.

    Returns
    -------
    float

    Examples
    --------
    >>> round(goodier_factor("0.5um", "8um"), 4), round(goodier_factor("0.2um", "8um"), 4)
    (1.4906, 1.4985)
    """
    from ..io.units import parse_quantity

    a = parse_quantity(void, "m", name="void")
    b = parse_quantity(radius, "m", name="radius")
    if not 0 < a < b:
        raise LithmapError(f"void={void!r} is invalid; expected 0 < void < radius={radius!r}")
    x = a / b
    return float(1.5 * (1 - x**5) / (1 - x**3) - 2.5 * x**2)
