"""Finite-element stress from a lithium (chemical-strain) field: axisymmetric (r, z) for a sphere
with a central void and pores, plane strain / plane stress for a 2D particle outline.

The model is linear isotropic elasticity with an isotropic eigenstrain ε*(x) — the chemical
strain, the thermal-stress analogue (Cheng & Verbrugge, J. Power Sources 2009; the linearised
form of the intercalation deformation gradient F_ic = (1 + ΔV/V0)^(1/3)·I of Liu, Zeng et al.,
Nat. Nanotechnol. 2024) — with every surface traction-free:

    σ = λ tr(ε) I + 2μ ε − κ ε* I,   ∇·σ = 0,   σ·n = 0 on the outer surface, void and pores,

κ = 3λ + 2μ = E/(1 − 2ν) (axisymmetric, plane strain) or E/(1 − ν) (plane stress). Quadratic
(P2) triangles, isoparametric on the curved void, pore and outer surfaces. Rigid-body motion is
removed exactly: the load of a pure eigenstrain is self-equilibrated, so pinning u_z at one node
(axisymmetric; u_r = 0 on the axis is the symmetry condition) or three displacement components
(2D) adds no reaction and leaves the stresses unchanged. Stresses are recovered by L2 projection
onto the same P2 space, then read at the mesh vertices, at named probe points and on a regular
grid (NaN outside the material). The stiffness, its factorisation and the recovery operators
are built once; every time step is then one back-substitution, so a whole θ history costs
little more than one solve.

Why scikit-fem and gmsh rather than a hand-written FE code: the element families (P2 on curved
triangles), the quadrature, assembly of mixed forms and point location are the parts of an FE
code where subtle bugs hide, and scikit-fem (pure Python on NumPy/SciPy, BSD, no compiled
extension of its own; Gustafsson & McBain, J. Open Source Softw. 2020) provides them tested and
small, with the weak form written here in a few readable lines. A particle with holes needs an
unstructured, graded mesh around 0.2 µm pores inside an 8 µm sphere; gmsh (Geuzaine & Remacle,
Int. J. Numer. Methods Eng. 2009) does the boolean geometry and size fields robustly, and its
wheel ships its own libraries. FEniCSx would also serve but needs MPI/PETSc builds, out of scale
for 2D problems of a few thousand elements.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..physics.fem_mesh import PorousSphere, axisymmetric_mesh, outline_mesh, porous_sphere

__all__ = ["axisymmetric_stress", "planar_stress", "ElasticFE"]

_STRESS_ATTRS = {
    "radial_stress": "radial stress (normal stress along the direction from the particle centre)",
    "hoop_stress": "hoop (circumferential) stress",
    "von_mises_stress": "von Mises equivalent stress",
    "hydrostatic_stress": "hydrostatic stress (mean normal stress, tension positive)",
}


def _elastic(youngs_modulus, poisson_ratio):
    from ..io.units import parse_quantity

    E = youngs_modulus
    if isinstance(E, str):
        E = parse_quantity(E, "Pa", name="youngs_modulus")
    E = float(E)
    nu = float(poisson_ratio)
    if not np.isfinite(E) or E <= 0:
        raise LithmapError(f"youngs_modulus={youngs_modulus!r} is invalid; expected a positive modulus such as 100GPa")
    if not np.isfinite(nu) or not -1 < nu < 0.5:
        raise LithmapError(f"poisson_ratio={poisson_ratio!r} is invalid; expected -1 < nu < 0.5")
    return E, nu


class ElasticFE:
    """Linear elasticity with an isotropic eigenstrain on a triangle mesh (scikit-fem, P2).

    Parameters
    ----------
    mesh : skfem.MeshTri1 or skfem.MeshTri2
        Coordinates in m: (r, z) for ``kind="axisymmetric"``, (x, y) otherwise.
    youngs_modulus : float
        E, Pa.
    poisson_ratio : float
        ν.
    kind : {"axisymmetric", "plane_strain", "plane_stress"}

    Notes
    -----
    :meth:`solve` takes the eigenstrain at the scalar P2 nodes (:attr:`points`) as an array of
    shape (n_points,) or (n_points, n_times) and returns the stress components at those nodes:
    ``rr, zz, rz, tt`` (axisymmetric) or ``xx, yy, xy, zz`` (2D).
    """

    def __init__(self, mesh, youngs_modulus, poisson_ratio, kind="axisymmetric"):
        from scipy.sparse.linalg import splu
        from skfem import Basis, BilinearForm, ElementTriP2, ElementVector, asm

        if kind not in ("axisymmetric", "plane_strain", "plane_stress"):
            raise LithmapError(f"kind={kind!r} is invalid; expected axisymmetric, plane_strain or plane_stress")
        E, nu = _elastic(youngs_modulus, poisson_ratio)
        self.kind, self.E, self.nu, self.mesh = kind, E, nu, mesh
        lam, mu = E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))
        if kind == "plane_stress":
            lam = 2 * lam * mu / (lam + 2 * mu)
            kappa = 2 * lam + 2 * mu
        else:
            kappa = 3 * lam + 2 * mu
        self.lam, self.mu, self.kappa = lam, mu, kappa
        axi = kind == "axisymmetric"
        self.sbasis = sb = Basis(mesh, ElementTriP2())
        self.vbasis = vb = Basis(mesh, ElementVector(ElementTriP2()))
        self.points = sb.doflocs

        def strains(u, w):
            g = u.grad
            e1, e2, e12 = g[0][0], g[1][1], 0.5 * (g[0][1] + g[1][0])
            e3 = u[0] / w.x[0] if axi else 0.0 * e1
            return e1, e2, e12, e3

        def weight(w):
            return w.x[0] if axi else 1.0

        @BilinearForm
        def stiffness(u, v, w):
            a1, a2, a12, a3 = strains(u, w)
            b1, b2, b12, b3 = strains(v, w)
            tr_a, tr_b = a1 + a2 + a3, b1 + b2 + b3
            return (lam * tr_a * tr_b + 2 * mu * (a1 * b1 + a2 * b2 + a3 * b3 + 2 * a12 * b12)) * weight(w)

        @BilinearForm
        def load(e, v, w):
            b1, b2, _, b3 = strains(v, w)
            return kappa * e * (b1 + b2 + b3) * weight(w)

        K = asm(stiffness, vb)
        self._C = asm(load, sb, vb)
        if self._C.shape != (vb.N, sb.N):
            self._C = self._C.T
        # Constraints. Axisymmetric: u_r = 0 on the axis (symmetry) and u_z pinned at one node (the z
        # translation; any deformation stays admissible, so the pin carries no reaction). 2D: the three
        # rigid modes are removed by Lagrange multipliers (Zᵀu = 0), since pinning a third component
        # would also forbid some deformations.
        nd = vb.nodal_dofs
        p = mesh.p[:, : mesh.nvertices] if hasattr(mesh, "nvertices") else mesh.p
        scale = float(np.ptp(p, axis=1).max())
        self._nrig = 0
        if axi:
            fixed = vb.get_dofs(lambda x: x[0] < 1e-9 * scale).all(["u^1"])
            k0 = int(np.argmin(np.abs(p[0]) + np.abs(p[1] - p[1].max())))
            fixed = np.union1d(fixed, [nd[1, k0]])
            self._free = np.setdiff1d(np.arange(vb.N), fixed)
            self._K_lu = splu(K[self._free][:, self._free].tocsc(), permc_spec="MMD_AT_PLUS_A",
                              options={"SymmetricMode": True})
        else:
            from scipy.sparse import bmat, csr_matrix

            X = vb.doflocs  # (2, N): the location of each dof; dofs alternate u_x, u_y per node
            ux = np.zeros(vb.N, bool)
            ux[vb.nodal_dofs[0]] = True
            ux[vb.facet_dofs[0]] = True
            c = X.mean(axis=1)
            Z = np.zeros((vb.N, 3))
            Z[ux, 0] = 1.0
            Z[~ux, 1] = 1.0
            Z[ux, 2] = -(X[1, ux] - c[1]) / scale
            Z[~ux, 2] = (X[0, ~ux] - c[0]) / scale
            Z *= float(np.abs(K.diagonal()).mean())
            self._free = np.arange(vb.N)
            self._nrig = 3
            A = bmat([[K, csr_matrix(Z)], [csr_matrix(Z.T), None]]).tocsc()
            self._K_lu = splu(A)
        # Recovery: L2 projection of each stress component onto scalar P2.
        M = asm(BilinearForm(lambda u, v, w: u * v), sb)
        self._M_lu = splu(M.tocsc(), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})

        def comp(k):
            def f(u, q, w):
                a1, a2, a12, a3 = strains(u, w)
                tr = a1 + a2 + a3
                return {0: lam * tr + 2 * mu * a1, 1: lam * tr + 2 * mu * a2, 2: 2 * mu * a12,
                        3: lam * tr + 2 * mu * a3}[k] * q
            G = asm(BilinearForm(f), vb, sb)
            return G if G.shape == (sb.N, vb.N) else G.T

        self._G = [comp(k) for k in range(4)]
        self.names = ("rr", "zz", "rz", "tt") if axi else ("xx", "yy", "xy", "zz")
        self.n_elements = mesh.t.shape[1]

    def displacement(self, eps):
        """Displacement dofs (vector P2) for eigenstrain ``eps`` at :attr:`points`."""
        eps = np.asarray(eps, dtype=float)
        f = self._C @ eps
        if self._nrig:
            f = np.concatenate([f, np.zeros((self._nrig,) + f.shape[1:])])
            return self._K_lu.solve(np.ascontiguousarray(f))[: self.vbasis.N]
        u = np.zeros((self.vbasis.N,) + eps.shape[1:])
        u[self._free] = self._K_lu.solve(np.ascontiguousarray(f[self._free]))
        return u

    def solve(self, eps):
        """Stress components (dict of arrays like ``eps``, Pa) at :attr:`points`."""
        eps = np.asarray(eps, dtype=float)
        u = self.displacement(eps)
        out = {}
        for k, name in enumerate(self.names):
            s = self._M_lu.solve(np.ascontiguousarray(self._G[k] @ u))
            if k in (0, 1, 3) and not (self.kind == "plane_stress" and k == 3):
                s = s - self.kappa * eps
            if self.kind == "plane_stress" and k == 3:
                s = np.zeros_like(s)
            out[name] = s
        self._last_u = u
        return out

    def probe_matrix(self, points, *, tolerance=0.05):
        """Sparse matrix that reads a scalar P2 field at ``points`` (2, n), m. Points up to
        ``tolerance`` (in element reference coordinates) outside the mesh read the nearest
        element's boundary value; points further out read NaN (their rows are empty and
        :attr:`missing` marks them)."""
        from scipy.sparse import coo_matrix
        from scipy.spatial import cKDTree

        m, sb = self.mesh, self.sbasis
        x = np.asarray(points, dtype=float).reshape(2, -1)
        n = x.shape[1]
        pv = m.p[:, : m.nvertices] if hasattr(m, "nvertices") else m.p
        tv = m.t
        if not hasattr(self, "_tree"):
            self._tree = cKDTree(pv[:, tv].mean(axis=1).T)
            dl = getattr(m, "doflocs", None)
            if dl is not None and dl.shape[1] > pv.shape[1]:
                fd = sb.element_dofs[3:6]  # mid-side nodes of each element
                ends = ((0, 1), (1, 2), (0, 2))
                mid = np.stack([0.5 * (pv[:, tv[i]] + pv[:, tv[j]]) for i, j in ends], axis=1)
                self._curved = (np.abs(dl[:, fd] - mid).max(axis=(0, 1)) > 1e-12 * np.ptp(pv)).astype(bool)
            else:
                self._curved = np.zeros(tv.shape[1], bool)
        k = min(12, tv.shape[1])
        _, cand = self._tree.query(x.T, k)
        cand = cand.reshape(n, k)
        A, B, C = (pv[:, tv[i]][:, cand] for i in range(3))
        old_err = np.seterr(divide="ignore", invalid="ignore")
        det = (B[0] - A[0]) * (C[1] - A[1]) - (C[0] - A[0]) * (B[1] - A[1])
        l1 = ((x[0][:, None] - A[0]) * (C[1] - A[1]) - (C[0] - A[0]) * (x[1][:, None] - A[1])) / det
        l2 = ((B[0] - A[0]) * (x[1][:, None] - A[1]) - (x[0][:, None] - A[0]) * (B[1] - A[1])) / det
        np.seterr(**old_err)
        worst = np.nan_to_num(np.minimum(np.minimum(l1, l2), 1 - l1 - l2), nan=-np.inf)
        best = np.argmax(worst, axis=1)
        cells = cand[np.arange(n), best]
        ok = worst[np.arange(n), best] > -tolerance
        ar = np.arange(n)
        X = np.stack([l1[ar, best], l2[ar, best]])[:, :, None]  # exact on straight-sided elements
        curved = ok & self._curved[cells]
        if curved.any():
            try:
                X[:, curved] = sb.mapping.invF(x[:, curved, None], tind=cells[curved])
            except Exception:  # Newton may fail just outside a curved edge; keep the affine guess there
                for i in np.flatnonzero(curved):
                    try:
                        X[:, i : i + 1] = sb.mapping.invF(x[:, i : i + 1, None], tind=cells[i : i + 1])
                    except Exception:
                        pass
        # clamp into the reference triangle
        X = np.clip(X, 0, 1)
        s = X[0] + X[1]
        over = s > 1
        X[0][over] /= s[over]
        X[1][over] /= s[over]
        idx = np.flatnonzero(ok)
        phis = np.array([sb.elem.gbasis(sb.mapping, X[:, idx], j, tind=cells[idx])[0] for j in range(sb.Nbfun)])
        rows = np.tile(idx, sb.Nbfun)
        cols = sb.element_dofs[:, cells[idx]].flatten()
        self.missing = ~ok
        return coo_matrix((phis.reshape(sb.Nbfun, -1).flatten(), (rows, cols)), shape=(n, sb.N)).tocsr()

    def traction(self, eps, boundary):
        """Traction σ·n (Pa) at the quadrature points of the boundary facets ``boundary``
        (indices), computed from the displacement itself (not the recovered stress); returns
        an array of shape (2, n_points) for one eigenstrain state."""
        from skfem import ElementTriP2, ElementVector, FacetBasis

        eps = np.asarray(eps, dtype=float)
        u = self.displacement(eps)
        fv = FacetBasis(self.mesh, ElementVector(ElementTriP2()), facets=boundary)
        fs = FacetBasis(self.mesh, ElementTriP2(), facets=boundary)
        U, e = fv.interpolate(u), fs.interpolate(eps)
        g = U.grad
        x = np.asarray(fv.global_coordinates())
        e1, e2, e12 = g[0][0], g[1][1], 0.5 * (g[0][1] + g[1][0])
        e3 = U[0] / x[0] if self.kind == "axisymmetric" else 0.0
        tr = e1 + e2 + e3
        s11 = self.lam * tr + 2 * self.mu * e1 - self.kappa * np.asarray(e)
        s22 = self.lam * tr + 2 * self.mu * e2 - self.kappa * np.asarray(e)
        s12 = 2 * self.mu * e12
        nrm = fv.normals
        return np.array([(s11 * nrm[0] + s12 * nrm[1]).ravel(), (s12 * nrm[0] + s22 * nrm[1]).ravel()])


def _invariants(s11, s22, s12, s33):
    vm = np.sqrt(0.5 * ((s11 - s22) ** 2 + (s22 - s33) ** 2 + (s33 - s11) ** 2) + 3 * s12**2)
    return vm, (s11 + s22 + s33) / 3


def _directional(s11, s22, s12, c1, c2):
    """Normal stresses along and across the direction (c1, c2) (broadcast), e.g. from the centre."""
    rho = np.hypot(c1, c2)
    safe = rho > 0
    n1 = np.where(safe, c1 / np.where(safe, rho, 1), 1.0)
    n2 = np.where(safe, c2 / np.where(safe, rho, 1), 0.0)
    along = n1 * n1 * s11 + 2 * n1 * n2 * s12 + n2 * n2 * s22
    across = n2 * n2 * s11 - 2 * n1 * n2 * s12 + n1 * n1 * s22
    return along, across


def _strain_at_vertices(strain, mesh):
    """Eigenstrain at the P2 dofs from values at the mesh vertices: exact at the vertices, the
    mean of its two ends at each mid-side node (P1 along the edge), and the time coordinate."""
    if set(strain.dims) - {"time", "node"}:
        raise LithmapError(f"strain has dims {strain.dims}; expected node, optionally with time")
    da = strain.transpose(*[d for d in ("time", "node") if d in strain.dims])
    nv = mesh.nvertices
    if da.sizes["node"] != nv:
        raise LithmapError(f"strain has {da.sizes['node']} nodes; the mesh has {nv} vertices")
    if "node_r" in da.coords and "node_z" in da.coords:
        xy = np.vstack([da["node_r"].values, da["node_z"].values])
        if not np.allclose(xy, mesh.p[:, :nv], rtol=0, atol=1e-9 * float(np.abs(mesh.p).max())):
            raise LithmapError("strain's node_r/node_z are not the vertices of this mesh (built with other options?)")
    v = np.asarray(da.values, dtype=float)
    v = v[None] if v.ndim == 1 else v
    if not np.isfinite(v).all():
        raise LithmapError("strain has NaN or infinite values at the mesh vertices")
    mid = 0.5 * (v[:, mesh.facets[0]] + v[:, mesh.facets[1]])
    out = np.concatenate([v, mid], axis=1).T  # (ndof, time): vertices, then facet k at nv + k
    time = da["time"] if "time" in da.dims else None
    return (out[:, 0] if time is None else out), time


def _strain_at(strain, r, z, geometry):
    """Eigenstrain at points (r, z): shape (n,) or (n, n_time), and the time coordinate."""
    if callable(strain) and not isinstance(strain, xr.DataArray):
        e = np.broadcast_to(np.asarray(strain(r, z), dtype=float), r.shape)
        return e.copy(), None
    if np.isscalar(strain):
        return np.full(r.shape, float(strain)), None
    if not isinstance(strain, xr.DataArray):
        raise LithmapError("strain must be a DataArray on r (and time), on (z, r), a number or a function f(r, z)")
    da = strain
    extra = [d for d in da.dims if d not in ("time", "r", "z")]
    if extra:
        raise LithmapError(f"strain has dims {da.dims}; expected r or (z, r), optionally with time")
    time = da["time"] if "time" in da.dims else None
    da = da.transpose(*[d for d in ("time", "z", "r") if d in da.dims])
    v = np.asarray(da.values, dtype=float)
    if time is None:
        v = v[None]
    if not np.isfinite(v).all():
        raise LithmapError("strain has NaN or infinite values inside its grid")
    rr = np.asarray(da["r"].values, dtype=float)
    if "z" not in da.dims:
        rho = np.hypot(r, z)
        if rr.max() < geometry.radius * (1 - 1e-6) or rr.min() > max(geometry.void, 0) * (1 + 1e-6) + 1e-12 * rr.max():
            raise LithmapError(
                f"strain covers r = {rr.min():.4g}..{rr.max():.4g} m but the particle spans "
                f"{geometry.void:.4g}..{geometry.radius:.4g} m"
            )
        out = np.stack([np.interp(rho, rr, row) for row in v], axis=-1)
    else:
        from scipy.interpolate import RegularGridInterpolator

        zz = np.asarray(da["z"].values, dtype=float)
        out = np.stack(
            [
                RegularGridInterpolator((zz, rr), row, bounds_error=False, fill_value=None)(np.column_stack([z, r]))
                for row in v
            ],
            axis=-1,
        )
    return (out[:, 0] if time is None else out), time


def axisymmetric_stress(
    strain,
    geometry: PorousSphere | None = None,
    *,
    youngs_modulus,
    poisson_ratio,
    mesh_size=None,
    min_size=None,
    surface_size=None,
    grid_spacing=None,
    probes=None,
    nodes: bool = False,
    mesh=None,
    profile=None,
):
    """Stress in a sphere with a central void and pores from an eigenstrain field, by
    axisymmetric finite elements.

    Parameters
    ----------
    strain : xarray.DataArray, float or callable
        The isotropic chemical strain ε* (dimensionless): on dim ``r`` (m, from the particle
        centre — a spherically symmetric field such as a radial ``simulate`` run, used at
        ρ = √(r² + z²)), on dims ``(z, r)``, or on dim ``node`` at the vertices of ``mesh`` (with
        coordinates ``node_r``, ``node_z``: a porous-sphere ``simulate`` run's ``theta_node``
        strain, taken exactly, P1 along each edge), each optionally with ``time``; or a function
        ``f(r, z)`` of m.
    geometry : PorousSphere, optional
        Default :func:`porous_sphere` (8 µm, 0.5 µm void, two 0.2 µm pores on the axis at
        ±1.1 µm), with the strain's largest ``r`` as radius when it has one.
    youngs_modulus : float or str
        Pa (or with units, ``"100GPa"``).
    poisson_ratio : float
    mesh_size, min_size, surface_size : float, optional
        Largest element, element at the void/pores, element at the outer surface (m); see
        :func:`lithmap.physics.fem_mesh.axisymmetric_mesh`.
    grid_spacing : float, optional
        Spacing of the output (z, r) grid, m (default radius/80).
    probes : dict or list, optional
        Named points {name: (r, z)} in m; names ``"bridge"`` (between the void and the nearest
        pore), ``"void"`` (void surface at the equator) and ``"surface"`` (outer equator) are
        known. Default: all of those the geometry has.
    nodes : bool
        Also return the stresses at the mesh vertices (dim ``node``).
    mesh : skfem.MeshTri2, optional
        A mesh of ``geometry`` already built (:func:`lithmap.physics.fem_mesh.porous_meshes`);
        the size options are then ignored.
    profile : float, optional
        Polar angle (rad from +z) of a ray from the centre: the stresses along it from the void
        (or the centre) to the surface as ``<stress>_profile`` on (time, distance), NaN in a pore.

    Returns
    -------
    xarray.Dataset
        ``radial_stress`` (along the direction from the particle centre), ``hoop_stress``
        (azimuthal σ_θθ), ``meridional_stress`` (in-plane, normal to the radial direction),
        ``von_mises_stress``, ``hydrostatic_stress`` in Pa on ``(time, z, r)`` (NaN outside the
        material), the same at the probes as ``probe_<name>`` on ``(time, probe)``, and the
        constants and mesh as attrs.

    Examples
    --------
    >>> g = porous_sphere("8um", void="0.5um", pores=0)
    >>> ds = axisymmetric_stress(lambda r, z: -1e-3 * (r**2 + z**2) / 8e-6**2, g,
    ...                          youngs_modulus=100e9, poisson_ratio=0.3, mesh_size=1e-6)
    >>> round(float(ds["probe_hoop_stress"].sel(probe="void")) / 1e6, 1)   # MPa: 1.49x the solid centre
    -85.3
    """
    E, nu = _elastic(youngs_modulus, poisson_ratio)
    if geometry is None:
        R = float(strain["r"].max()) if isinstance(strain, xr.DataArray) and "r" in strain.dims else 8e-6
        geometry = porous_sphere(R)
    if not isinstance(geometry, PorousSphere):
        raise LithmapError(f"geometry={geometry!r} is invalid; expected a PorousSphere (lithmap.porous_sphere)")
    g = geometry
    if mesh is None:
        mesh = axisymmetric_mesh(g, size=mesh_size, min_size=min_size, surface_size=surface_size)
    fe = ElasticFE(mesh, E, nu, "axisymmetric")
    r, z = fe.points
    if isinstance(strain, xr.DataArray) and "node" in strain.dims:
        eps, time = _strain_at_vertices(strain, mesh)
    else:
        eps, time = _strain_at(strain, r, z, g)
    S = fe.solve(eps)
    R = g.radius
    h = R / 80 if grid_spacing is None else float(grid_spacing)
    gr = np.linspace(0, R, int(round(R / h)) + 1)
    gz = np.linspace(-R, R, 2 * (len(gr) - 1) + 1)
    Z, Rg = np.meshgrid(gz, gr, indexing="ij")
    inside = g.inside(Rg, Z).ravel()
    pts = np.vstack([Rg.ravel()[inside], Z.ravel()[inside]])
    # probes
    named = {}
    if probes is None:
        probes = (["bridge"] if g.pores else []) + (["void"] if g.void > 0 else []) + ["surface"]
    if not isinstance(probes, dict):
        known = {"void": (g.void, 0.0), "surface": (R, 0.0)}
        for name in probes:
            if name == "bridge":
                named[name] = g.bridge()
            elif name in known and (name != "void" or g.void > 0):
                named[name] = known[name]
            elif name in ("centre", "center") and g.void == 0:
                named["centre"] = (0.0, 0.0)
            else:
                try:  # a radius: the point on the equator
                    from ..io.units import parse_quantity

                    named[str(name)] = (parse_quantity(str(name), "m", name="probe"), 0.0)
                except LithmapError:
                    raise LithmapError(f"probe {name!r} is unknown; expected bridge, void, surface, a radius on the "
                                       "equator (2um) or, in Python, a dict name: (r, z)") from None
    else:
        named = {k: tuple(float(c) for c in v) for k, v in probes.items()}
    for name, (pr, pz) in named.items():
        if not g.inside(pr + 1e-9 * R if pr == 0 else pr, pz) and not g.inside(pr * (1 - 1e-9), pz * (1 - 1e-9)):
            raise LithmapError(f"probe {name!r} at (r={pr:.4g} m, z={pz:.4g} m) is outside the material")
    P_grid = fe.probe_matrix(pts)
    P_probe = fe.probe_matrix(np.array(list(named.values())).T.reshape(2, -1)) if named else None

    def derived(s, c_r, c_z):
        rad, mer = _directional(s["rr"], s["zz"], s["rz"], c_r, c_z)
        vm, hyd = _invariants(s["rr"], s["zz"], s["rz"], s["tt"])
        return {"radial_stress": rad, "hoop_stress": s["tt"], "meridional_stress": mer,
                "von_mises_stress": vm, "hydrostatic_stress": hyd}

    nt = None if time is None else time.size

    def sample(P, cr, cz, shape_fn):
        s = {k: P @ v for k, v in S.items()}
        if nt is not None:
            cr, cz = cr[:, None], cz[:, None]
        return {k: shape_fn(v) for k, v in derived(s, cr, cz).items()}

    def to_grid(v):
        full = np.full((inside.size,) + v.shape[1:], np.nan)
        full[inside] = v
        full = full.reshape(Z.shape + v.shape[1:])
        return np.moveaxis(full, -1, 0) if nt is not None else full

    tdims = ("time",) if nt is not None else ()
    coords = {"r": ("r", gr, {"units": "m"}), "z": ("z", gz, {"units": "m"})}
    if time is not None:
        coords["time"] = time
    ds = xr.Dataset(coords=coords)
    for k, v in sample(P_grid, pts[0], pts[1], to_grid).items():
        ds[k] = (tdims + ("z", "r"), v, {"units": "Pa", "long_name": _STRESS_ATTRS.get(k, k.replace("_", " "))})
    if named:
        pp = np.array(list(named.values())).T
        ds = ds.assign_coords(probe=("probe", list(named)), probe_r=("probe", pp[0], {"units": "m"}),
                              probe_z=("probe", pp[1], {"units": "m"}))
        for k, v in sample(P_probe, pp[0], pp[1], lambda a: a.T if nt is not None else a).items():
            ds[f"probe_{k}"] = (tdims + ("probe",), v, {"units": "Pa"})
    if profile is not None:
        dist = np.linspace(g.void, R, 161)
        line = np.vstack([dist * np.sin(profile), dist * np.cos(profile)])
        line[0] = np.maximum(line[0], 0.0)
        solid = np.ones(dist.size, bool)
        for rc, zc, rp in g.pores:
            solid &= np.hypot(line[0] - rc, line[1] - zc) >= rp * (1 - 1e-9)
        P_line = fe.probe_matrix(line)
        ds = ds.assign_coords(distance=("distance", dist, {"units": "m", "long_name": "distance from the centre"}))
        mask = solid[:, None] if nt is not None else solid
        for k, v in sample(P_line, line[0], line[1], lambda a: a).items():
            v = np.where(mask, v, np.nan)
            ds[f"{k}_profile"] = (tdims + ("distance",), v.T if nt is not None else v, {"units": "Pa"})
    if nodes:
        nv = mesh.nvertices
        vr, vz = fe.points[:, :nv]
        ds = ds.assign_coords(node_r=("node", vr, {"units": "m"}), node_z=("node", vz, {"units": "m"}))
        sl = {k: v[:nv] for k, v in S.items()}
        for k, v in derived(sl, vr[:, None] if nt else vr, vz[:, None] if nt else vz).items():
            ds[f"node_{k}"] = (("node",) + tdims, v, {"units": "Pa"})
            if nt is not None:
                ds[f"node_{k}"] = ds[f"node_{k}"].transpose("time", "node")
    ds.attrs.update(_mesh_attrs(fe, mesh, g.describe(), "axisymmetric (r, z)"))
    return ds


def _mesh_attrs(fe, mesh, geometry, kind):
    import skfem

    p = mesh.p[:, : mesh.nvertices]
    edges = mesh.facets
    lengths = np.hypot(*(p[:, edges[1]] - p[:, edges[0]]))
    return {
        "youngs_modulus": fe.E,
        "poisson_ratio": fe.nu,
        "geometry": geometry,
        "model": f"linear elasticity with isotropic chemical eigenstrain, {kind}, traction-free surfaces",
        "method": f"finite elements, quadratic (P2) triangles, scikit-fem {skfem.__version__}, gmsh mesh",
        "n_elements": int(mesh.t.shape[1]),
        "n_nodes": int(fe.sbasis.N),
        "mesh_min_size": float(lengths.min()),
        "mesh_max_size": float(lengths.max()),
        "attr_units": "SI: youngs_modulus in Pa, mesh sizes in m",
    }


def planar_stress(
    strain,
    shape=None,
    *,
    youngs_modulus,
    poisson_ratio,
    plane: str = "strain",
    mesh_size=None,
    surface_size=None,
    pixel_size=None,
):
    """Stress map of a 2D particle (plane strain or plane stress) from an eigenstrain image.

    Parameters
    ----------
    strain : xarray.DataArray
        ε* on ``(y, x)`` or ``(time, y, x)`` with coordinates in m, NaN outside the particle
        (e.g. a strain made from ``lm.simulate(mask, ...)["theta"]``).
    shape : mask or 2D shape, optional
        The particle outline (anything :func:`lithmap.from_mask` / ``parse_shape`` takes; a
        ``contrast`` result's ``mask``). Default: the finite pixels of ``strain``.
    youngs_modulus : float or str
        Pa.
    poisson_ratio : float
    plane : {"strain", "stress"}
        Plane strain (a section of a long particle, ε_zz = 0) or plane stress (a thin plate).
    mesh_size, surface_size : float, optional
        Largest element and element at the outline, m.
    pixel_size : float or str, optional
        Needed only for a plain array mask.

    Returns
    -------
    xarray.Dataset
        ``stress_xx``, ``stress_yy``, ``stress_xy``, ``stress_zz``, ``radial_stress`` and
        ``hoop_stress`` (in-plane, about the outline's centroid), ``von_mises_stress`` and
        ``hydrostatic_stress`` in Pa on the strain's ``(time, y, x)`` grid, NaN outside the
        particle.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:24, 0:24] * 1e-7
    >>> disc = np.hypot(xx - 1.15e-6, yy - 1.15e-6) < 1e-6
    >>> eps = xr.DataArray(np.where(disc, -1e-3, np.nan), dims=("y", "x"),
    ...                    coords={"y": yy[:, 0], "x": xx[0]})
    >>> ds = planar_stress(eps, youngs_modulus=100e9, poisson_ratio=0.3)
    >>> float(abs(ds["stress_xx"]).max()) < 1.0     # uniform strain: no in-plane stress (Pa)...
    True
    >>> round(float(ds["stress_zz"].max()) / 1e6)   # ...but plane strain holds z: σ_zz = −E·ε*, MPa
    100
    """
    from ..physics.geometry import Shape2D, parse_shape

    if plane not in ("strain", "stress"):
        raise LithmapError(f"plane={plane!r} is invalid; expected 'strain' or 'stress'")
    if not isinstance(strain, xr.DataArray) or not {"y", "x"} <= set(strain.dims):
        raise LithmapError("strain must be a DataArray on (y, x) or (time, y, x) with coordinates in m")
    if set(strain.dims) - {"time", "y", "x"}:
        raise LithmapError(f"strain has dims {strain.dims}; expected (y, x) or (time, y, x)")
    da = strain.transpose(*[d for d in ("time", "y", "x") if d in strain.dims])
    v = np.asarray(da.values, dtype=float)
    v3 = v if "time" in da.dims else v[None]
    x, y = np.asarray(da["x"].values, float), np.asarray(da["y"].values, float)
    if shape is None:
        finite = np.isfinite(v3).all(axis=0)
        shape = xr.DataArray(finite.astype(np.uint8), dims=("y", "x"),
                             coords={"y": ("y", y, {"units": "m"}), "x": ("x", x, {"units": "m"})})
    shp = shape if isinstance(shape, Shape2D) else parse_shape(shape, pixel_size=pixel_size)
    if not hasattr(shp, "boundary"):
        raise LithmapError(f"shape {shp!r} has no 2D outline")
    mesh = outline_mesh(shp.boundary, size=mesh_size, surface_size=surface_size)
    fe = ElasticFE(mesh, youngs_modulus, poisson_ratio, "plane_" + plane)
    # eigenstrain at the P2 nodes: fill NaN pixels from the nearest particle pixel, then bilinear
    from scipy import ndimage
    from scipy.interpolate import RegularGridInterpolator

    good = np.isfinite(v3).all(axis=0)
    if not good.any():
        raise LithmapError("strain has no finite pixel")
    idx = ndimage.distance_transform_edt(~good, return_distances=False, return_indices=True)
    filled = v3[:, idx[0], idx[1]]
    px, py = fe.points
    eps = np.stack([RegularGridInterpolator((y, x), f, bounds_error=False, fill_value=None)(np.column_stack([py, px]))
                    for f in filled], axis=-1)
    S = fe.solve(eps)
    Y, X = np.meshgrid(y, x, indexing="ij")
    inside = np.zeros(Y.shape, bool)
    if hasattr(shp, "x") and len(shp.x) == len(x) and len(shp.y) == len(y) and np.allclose(shp.x, x) and \
            np.allclose(shp.y, y):
        inside = np.asarray(shp.inside, bool)
    else:
        from matplotlib.path import Path as MplPath

        inside = MplPath(shp.boundary).contains_points(np.column_stack([X.ravel(), Y.ravel()])).reshape(X.shape)
    inside &= good
    pts = np.vstack([X[inside], Y[inside]])
    P = fe.probe_matrix(pts, tolerance=0.5)
    b = shp.boundary
    cx, cy = b[:, 0].mean(), b[:, 1].mean()
    s = {k: P @ val for k, val in S.items()}
    c1, c2 = (pts[0] - cx)[:, None], (pts[1] - cy)[:, None]
    rad, hoop = _directional(s["xx"], s["yy"], s["xy"], c1, c2)
    vm, hyd = _invariants(s["xx"], s["yy"], s["xy"], s["zz"])
    fields = {"stress_xx": s["xx"], "stress_yy": s["yy"], "stress_xy": s["xy"], "stress_zz": s["zz"],
              "radial_stress": rad, "hoop_stress": hoop, "von_mises_stress": vm, "hydrostatic_stress": hyd}
    miss = fe.missing
    dims = ("time", "y", "x") if "time" in da.dims else ("y", "x")
    coords = {"y": ("y", y, {"units": "m"}), "x": ("x", x, {"units": "m"})}
    if "time" in da.dims:
        coords["time"] = da["time"]
    ds = xr.Dataset(coords=coords)
    for k, val in fields.items():
        val = val.copy()
        val[miss] = np.nan
        full = np.full((v3.shape[0],) + Y.shape, np.nan)
        full[:, inside] = val.T
        ds[k] = (dims, full if "time" in da.dims else full[0],
                 {"units": "Pa", "long_name": _STRESS_ATTRS.get(k, k.replace("_", " "))})
    ds.attrs.update(_mesh_attrs(fe, mesh, shp.describe() if hasattr(shp, "describe") else "2D outline",
                                f"plane {plane}"))
    ds.attrs["centroid_xy"] = [float(cx), float(cy)]
    ds.attrs["attr_units"] += ", centroid_xy in m"
    return ds
