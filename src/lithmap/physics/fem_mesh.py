"""Meshes of a sphere with a central void and pores in the axisymmetric (r, z) half-plane, shared by
the lithium transport (the engine's finite volumes on the mesh vertices) and the stress (quadratic
finite elements on the same triangles), and of a particle outline from an image (gmsh for the
meshing, scikit-fem's quadratic triangles for the curved boundaries).

The axisymmetric domain is the half-disc r ≥ 0 of the particle's meridian section. A pore
centred on the axis (``r_c = 0``) is a true sphere; an off-axis pore (``r_c > 0``) is, in an
axisymmetric model, a *ring* (a torus of circular section) around the axis — the only kind of
off-axis cavity a 2D axisymmetric model (such as the COMSOL model of Liu, Zeng et al., Nat.
Nanotechnol. 2024) can hold. :func:`porous_sphere` puts its pores on the axis by default, so
each is a real spherical pore and the bridge point between the void and the nearest pore lies
on the axis, where the two hoop directions coincide.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..errors import LithmapError

__all__ = ["PorousSphere", "porous_sphere", "axisymmetric_mesh", "porous_meshes", "outline_mesh"]


def _length(name, value, *, allow_zero=False):
    from ..io.units import parse_quantity

    v = parse_quantity(value, "m", name=name) if isinstance(value, str) else float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise LithmapError(f"{name}={value!r} is invalid; expected a {kind} length")
    return v


@dataclass(frozen=True)
class PorousSphere:
    """A spherical particle with an optional central void and pores, in axisymmetric (r, z).

    Parameters
    ----------
    radius : float
        Particle radius, m.
    void : float
        Central void radius, m (0: none).
    pores : tuple of (r_c, z_c, radius)
        Pore centres (m, in the meridian half-plane, r_c ≥ 0) and radii (m). ``r_c = 0``: a
        spherical pore on the axis; ``r_c > 0``: a ring (torus) around the axis.

    Examples
    --------
    >>> g = porous_sphere("8um", void="0.5um", pores=1, pore_radius="0.2um", pore_distance="1.1um")
    >>> [round(v * 1e6, 3) for v in g.bridge()]
    [0.0, 0.7]
    """

    radius: float
    void: float = 0.0
    pores: tuple = field(default_factory=tuple)
    kind: ClassVar[str] = "axisymmetric"

    def __post_init__(self):
        R = _length("radius", self.radius)
        a = _length("void", self.void, allow_zero=True)
        if a >= R:
            raise LithmapError(f"void={a:.4g} m is invalid; it must be smaller than the particle radius {R:.4g} m")
        pores = tuple(tuple(float(v) for v in p) for p in self.pores)
        for i, (rc, zc, rp) in enumerate(pores):
            where = f"pore {i} at (r={rc:.4g} m, z={zc:.4g} m, radius {rp:.4g} m)"
            if not (np.isfinite([rc, zc, rp]).all() and rp > 0 and rc >= 0):
                raise LithmapError(f"{where} is invalid; expected r >= 0 and a positive radius")
            if rc > 0 and rc <= rp:
                raise LithmapError(f"{where} crosses the axis; put it on the axis (r=0) or at r > its radius")
            d = np.hypot(rc, zc)
            if d + rp >= R:
                raise LithmapError(f"{where} reaches outside the particle of radius {R:.4g} m")
            if a > 0 and d - rp <= a:
                raise LithmapError(f"{where} overlaps the central void of radius {a:.4g} m")
            for j, (rc2, zc2, rp2) in enumerate(pores[:i]):
                if np.hypot(rc - rc2, zc - zc2) <= rp + rp2:
                    raise LithmapError(f"{where} overlaps pore {j}")
        object.__setattr__(self, "radius", R)
        object.__setattr__(self, "void", a)
        object.__setattr__(self, "pores", pores)

    def inside(self, r, z) -> np.ndarray:
        """True where (r, z) (m) is solid material."""
        r, z = np.asarray(r, float), np.asarray(z, float)
        rho = np.hypot(r, z)
        ok = (r >= 0) & (rho <= self.radius) & (rho >= self.void)
        for rc, zc, rp in self.pores:
            ok &= np.hypot(r - rc, z - zc) >= rp
        return ok

    def bridge(self):
        """The bridge point (r, z), m: midway between the void surface and the nearest pore
        surface, on the line joining their centres (without a void: between the centre and the
        nearest pore)."""
        if not self.pores:
            raise LithmapError("probe 'bridge' needs a pore; this particle has none")
        gaps = [np.hypot(rc, zc) - rp - self.void for rc, zc, rp in self.pores]
        rc, zc, rp = self.pores[int(np.argmin(gaps))]
        d = np.hypot(rc, zc)
        s = 0.5 * (self.void + d - rp) / d
        return float(rc * s), float(zc * s)

    def circles(self):
        """The curved boundaries as (centre_r, centre_z, radius, name)."""
        out = [(0.0, 0.0, self.radius, "outer")]
        if self.void > 0:
            out.append((0.0, 0.0, self.void, "void"))
        out += [(rc, zc, rp, f"pore{i}") for i, (rc, zc, rp) in enumerate(self.pores)]
        return out

    def mesh(self, *, surface_spacing=None, max_spacing=None, cavity_spacing=None, growth=0.15, n=None):
        """The engine's finite-volume mesh (:func:`porous_meshes`; spacings in m or with units)."""
        if n is not None:
            raise LithmapError("n (uniform node count) applies to radial meshes only; give surface_spacing")
        return porous_meshes(self, surface_spacing=surface_spacing, max_spacing=max_spacing,
                             cavity_spacing=cavity_spacing, growth=growth)[1]

    def grid(self, spacing=None):
        """The output grid: r (0..R) and z (−R..R) in m, spacing R/80 by default, and the (z, r)
        mask of the material."""
        h = self.radius / 80 if spacing is None else _length("pixel_size", spacing)
        r = np.linspace(0, self.radius, int(round(self.radius / h)) + 1)
        z = np.linspace(-self.radius, self.radius, 2 * (len(r) - 1) + 1)
        Z, Rg = np.meshgrid(z, r, indexing="ij")
        return r, z, self.inside(Rg, Z)

    def centre(self):
        """(r, z) of the innermost material point on the equator: the void surface, or the centre."""
        return np.array([self.void, 0.0])

    def describe(self) -> str:
        p = "; ".join(f"pore of radius {rp * 1e6:.4g} µm at r={rc * 1e6:.4g} µm, z={zc * 1e6:.4g} µm"
                      for rc, zc, rp in self.pores)
        return (f"sphere of radius {self.radius * 1e6:.4g} µm, central void {self.void * 1e6:.4g} µm"
                + (f"; {p}" if p else ""))


def porous_sphere(radius="8um", *, void="0.5um", pores=2, pore_radius="0.2um", pore_distance="1.1um", angles=None):
    """A sphere with a central void and pores: the geometry of the particle model of Liu, Zeng et
    al. (Nat. Nanotechnol. 2024).

    Parameters
    ----------
    radius, void, pore_radius, pore_distance : float or str
        Particle radius, central void radius, pore radius and the distance from the particle
        centre to each pore centre (m or with units). Liu, Zeng et al. give 8 µm, 0.5 µm and 0.2 µm;
        the pore distance is not stated in the paper — 1.1 µm (a 0.4 µm void–pore gap) is assumed.
    pores : int
        Number of pores (0, 1 or 2 by default angles: on the axis at +z and −z).
    angles : sequence of float, optional
        Polar angles (rad from +z) of the pore centres; 0 and π are on the axis (spherical
        pores), other angles give rings (tori) around the axis.

    Returns
    -------
    PorousSphere

    Examples
    --------
    >>> ps = porous_sphere()
    >>> round(ps.radius * 1e6, 3), round(ps.void * 1e6, 3), len(ps.pores)
    (8.0, 0.5, 2)
    """
    R = _length("radius", radius)
    a = _length("void", void, allow_zero=True)
    n = int(pores)
    if n < 0:
        raise LithmapError(f"pores={pores!r} is invalid; expected a number of pores >= 0")
    if angles is None:
        if n > 2:
            raise LithmapError(f"pores={pores!r}: more than 2 pores need their polar angles, "
                               "lithmap.porous_sphere(..., angles=[...]) in Python (a pore off the axis is a ring)")
        angles = [0.0, np.pi][:n]
    if n and len(angles) != n:
        raise LithmapError(f"angles has {len(angles)} values for {n} pores")
    rp = _length("pore_radius", pore_radius) if n else 0.0
    d = _length("pore_distance", pore_distance) if n else 0.0
    ps = []
    for t in angles[:n]:
        rc = d * np.sin(t)
        ps.append((0.0 if abs(rc) < 1e-12 * R else abs(rc), d * np.cos(t), rp))
    return PorousSphere(R, a, tuple(ps))


def _gmsh_session():
    import gmsh

    gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.option.setNumber("General.Verbosity", 0)
    gmsh.option.setNumber("General.NumThreads", 1)
    gmsh.model.add("lithmap")
    return gmsh


def _generate(gmsh):
    """Mesh the current 2D model with sizes from the background field only (Frontal-Delaunay)."""
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    gmsh.option.setNumber("Mesh.Algorithm", 6)
    gmsh.model.mesh.generate(2)
    return _gmsh_triangles(gmsh)


def _gmsh_triangles(gmsh):
    """Vertices (2, n) and triangles (3, m) of the current gmsh 2D mesh, unused nodes dropped."""
    tags, coords, _ = gmsh.model.mesh.getNodes()
    xyz = coords.reshape(-1, 3)
    etypes, _, enodes = gmsh.model.mesh.getElements(dim=2)
    tri = [en.reshape(-1, 3) for et, en in zip(etypes, enodes) if et == 2]
    if not tri:
        raise LithmapError("gmsh produced no triangles for this geometry")
    tri = np.vstack(tri)
    index = {int(t): i for i, t in enumerate(tags)}
    t = np.vectorize(index.__getitem__)(tri)
    used, inv = np.unique(t, return_inverse=True)
    return xyz[used, :2].T.copy(), inv.reshape(t.shape).T.copy()


def _fix_orientation(p, t):
    d = (p[0, t[1]] - p[0, t[0]]) * (p[1, t[2]] - p[1, t[0]]) - (p[0, t[2]] - p[0, t[0]]) * (p[1, t[1]] - p[1, t[0]])
    t = t.copy()
    neg = d < 0
    t[1, neg], t[2, neg] = t[2, neg], t[1, neg].copy()
    return t


def axisymmetric_mesh(geometry: PorousSphere, *, size=None, min_size=None, surface_size=None, growth=0.15):
    """A quadratic triangle mesh of the meridian half-plane of ``geometry``.

    Parameters
    ----------
    geometry : PorousSphere
    size : float, optional
        Largest element size, m (default radius/12).
    min_size : float, optional
        Element size at the void and pore surfaces, m (default a fifth of the smallest cavity radius).
    surface_size : float, optional
        Element size at the outer surface, m (default radius/40), where the lithium gradient is steep.
    growth : float
        How fast the element size may grow with distance from a refined surface (size gradient).

    Returns
    -------
    skfem.MeshTri2
        Curved (isoparametric) triangles whose boundary mid-side nodes lie on the exact circles;
        coordinates x[0] = r, x[1] = z in m.
    """
    from skfem import MeshTri1, MeshTri2

    g = geometry
    R = g.radius
    cav = [g.void] if g.void > 0 else []
    cav += [p[2] for p in g.pores]
    size = R / 12 if size is None else float(size)
    surface_size = min(size, R / 40) if surface_size is None else float(surface_size)
    min_size = min(size, (min(cav) / 5) if cav else size) if min_size is None else float(min_size)
    gmsh = _gmsh_session()
    try:
        occ = gmsh.model.occ
        disk = occ.addDisk(0, 0, 0, 1.0, 1.0)
        half = occ.addRectangle(0, -1.1, 0, 1.1, 2.2)
        dom, _ = occ.intersect([(2, disk)], [(2, half)])
        holes = []
        if g.void > 0:
            holes.append((2, occ.addDisk(0, 0, 0, g.void / R, g.void / R)))
        for rc, zc, rp in g.pores:
            holes.append((2, occ.addDisk(rc / R, zc / R, 0, rp / R, rp / R)))
        if holes:
            dom, _ = occ.cut(dom, holes)
        occ.synchronize()
        if len(dom) != 1:
            raise LithmapError(f"{g.describe()}: the cavities split the particle")
        curves = [c for _, c in gmsh.model.getBoundary(dom, oriented=False)]
        inner, outer = [], []
        for c in curves:
            x1 = gmsh.model.getBoundingBox(1, c)[3]
            if x1 < 1e-9:
                continue  # the axis
            lo, hi = gmsh.model.getParametrizationBounds(1, c)
            x, y, _ = gmsh.model.getValue(1, c, [0.5 * (lo[0] + hi[0])])
            (outer if abs(np.hypot(x, y) - 1) < 1e-6 else inner).append(c)
        fields = []
        f = gmsh.model.mesh.field
        for group, h_at in ((inner, min_size), (outer, surface_size)):
            if not group:
                continue
            dist = f.add("Distance")
            f.setNumbers(dist, "CurvesList", group)
            f.setNumber(dist, "Sampling", 200)
            th = f.add("Threshold")
            f.setNumber(th, "InField", dist)
            f.setNumber(th, "SizeMin", h_at / R)
            f.setNumber(th, "SizeMax", size / R)
            f.setNumber(th, "DistMin", (0.5 * h_at if group is outer else 2 * h_at) / R)
            f.setNumber(th, "DistMax", ((0.5 * h_at if group is outer else 2 * h_at) + (size - h_at) / growth) / R)
            fields.append(th)
        if fields:
            mn = f.add("Min")
            f.setNumbers(mn, "FieldsList", fields)
            f.setAsBackgroundMesh(mn)
        p, t = _generate(gmsh)
        p = p * R
        p[0] = np.maximum(p[0], 0.0)
    finally:
        gmsh.finalize()
    m1 = MeshTri1(p, _fix_orientation(p, t))
    m2 = MeshTri2.from_mesh(m1)
    # Put the boundary mid-side nodes on the exact circles (isoparametric boundary).
    facets = m2.boundary_facets()
    dofs = m2.nvertices + facets  # mid-side node of facet k is dof nvertices + k
    X = m2.doflocs.copy()
    mids = X[:, dofs]
    ends = [m1.p[:, m1.facets[k, facets]] for k in (0, 1)]
    for rc, zc, rad, _ in g.circles():
        on = np.ones(facets.size, bool)
        for e in ends:  # both end vertices on this circle (gmsh puts them there to round-off)
            on &= np.abs(np.hypot(e[0] - rc, e[1] - zc) - rad) < 1e-6 * rad
        d = np.hypot(mids[0, on] - rc, mids[1, on] - zc)
        mids[0, on] = rc + (mids[0, on] - rc) * rad / d
        mids[1, on] = zc + (mids[1, on] - zc) * rad / d
    X[:, dofs] = mids
    from dataclasses import replace

    return replace(m2, doflocs=X)


def porous_meshes(geometry: PorousSphere, *, surface_spacing=None, max_spacing=None, cavity_spacing=None,
                  growth=0.15):
    """The two meshes of one porous sphere: the quadratic FE mesh of the stress and the engine's
    finite-volume mesh of the lithium transport on its vertices.

    The finite volumes are the lumped P1 elements of the same triangles measured on the solid of
    revolution (:func:`lithmap.physics.mesh.triangle_mesh` with ``axisymmetric=True``). Lithium
    crosses the outer surface only: the void and pore surfaces are zero-flux, as in the particle
    model of Liu, Zeng et al. (Nat. Nanotechnol. 2024). The engine's node k is the FE vertex
    ``fv.source_index[k]``, so θ passes to the stress without interpolation.

    Parameters
    ----------
    geometry : PorousSphere
    surface_spacing, max_spacing, cavity_spacing : float or str, optional
        Element size at the outer surface, largest element, element at the void and pores (m or
        with units); defaults as for :func:`axisymmetric_mesh` (R/40, R/12, a fifth of the
        smallest cavity radius).
    growth : float
        Size gradient away from the refined surfaces.

    Returns
    -------
    (skfem.MeshTri2, lithmap.physics.mesh.Mesh)
        Cached on the (frozen) geometry and the options: the transport and the stress of one run
        ask for the same meshes, and gmsh takes about a second. Do not modify them.

    Examples
    --------
    >>> fe, fv = porous_meshes(porous_sphere("8um", void="0.5um", pores=2), max_spacing="1um")
    >>> fv.kind, bool(fv.n == fe.nvertices)
    ('axisymmetric', True)
    >>> g = porous_sphere("8um", void="0.5um", pores=2)
    >>> exact = 4 / 3 * np.pi * (8e-6**3 - 0.5e-6**3 - 2 * 0.2e-6**3)
    >>> bool(abs(fv.volume.sum() / exact - 1) < 1e-3)   # the volume of revolution
    True
    """
    return _porous_meshes(geometry, surface_spacing, max_spacing, cavity_spacing, float(growth))


@functools.lru_cache(maxsize=8)
def _porous_meshes(geometry, surface_spacing, max_spacing, cavity_spacing, growth):
    from .mesh import triangle_mesh

    def opt(name, v):
        return None if v is None else _length(name, v)

    fe = axisymmetric_mesh(geometry, size=opt("max_spacing", max_spacing),
                           min_size=opt("cavity_spacing", cavity_spacing),
                           surface_size=opt("surface_spacing", surface_spacing), growth=growth)
    nv = fe.nvertices
    R = geometry.radius

    def outer(a, b):
        return (np.abs(np.hypot(a[:, 0], a[:, 1]) - R) < 1e-6 * R) & (np.abs(np.hypot(b[:, 0], b[:, 1]) - R) < 1e-6 * R)

    fv = triangle_mesh(fe.p[:, :nv].T, fe.t.T, axisymmetric=True, flux_boundary=outer)
    if fv.n != nv:  # pragma: no cover - gmsh meshes have no unused or degenerate pieces
        raise LithmapError("the finite-volume mesh lost vertices of the FE mesh")
    return fe, fv


def outline_mesh(boundary, *, size=None, surface_size=None):
    """A triangle mesh of a closed 2D outline (a polygon in m, such as ``from_mask(...).boundary``).

    Parameters
    ----------
    boundary : array_like, shape (n, 2)
        Outline vertices (x, y), m, in order.
    size : float, optional
        Largest element size, m (default equivalent radius/10).
    surface_size : float, optional
        Element size along the outline, m (default the median outline segment, at least size/6).

    Returns
    -------
    skfem.MeshTri1
        Coordinates x[0] = x, x[1] = y in m.
    """
    from skfem import MeshTri1

    b = np.asarray(boundary, dtype=float)
    if b.ndim != 2 or b.shape[1] != 2 or len(b) < 3:
        raise LithmapError(f"outline has shape {b.shape}; expected (n >= 3, 2) vertices in m")
    if np.allclose(b[0], b[-1]):
        b = b[:-1]
    area = 0.5 * abs(np.dot(b[:, 0], np.roll(b[:, 1], -1)) - np.dot(b[:, 1], np.roll(b[:, 0], -1)))
    req = np.sqrt(area / np.pi)
    size = req / 10 if size is None else float(size)
    seg = np.hypot(*np.diff(np.vstack([b, b[:1]]), axis=0).T)
    surface_size = max(float(np.median(seg)), size / 6) if surface_size is None else float(surface_size)
    # Resample the outline at about surface_size so gmsh does not see thousands of tiny edges.
    s = np.concatenate([[0], np.cumsum(seg)])
    n = max(12, int(round(s[-1] / surface_size)))
    si = np.linspace(0, s[-1], n, endpoint=False)
    closed = np.vstack([b, b[:1]])
    pts = np.column_stack([np.interp(si, s, closed[:, 0]), np.interp(si, s, closed[:, 1])])
    gmsh = _gmsh_session()
    try:
        geo = gmsh.model.geo
        L = req  # mesh in units of the equivalent radius (OCC/gmsh tolerances are absolute)
        ptags = [geo.addPoint(x / L, y / L, 0, surface_size / L) for x, y in pts]
        ltags = [geo.addLine(ptags[i], ptags[(i + 1) % n]) for i in range(n)]
        loop = geo.addCurveLoop(ltags)
        geo.addPlaneSurface([loop])
        geo.synchronize()
        f = gmsh.model.mesh.field
        dist = f.add("Distance")
        f.setNumbers(dist, "CurvesList", ltags)
        th = f.add("Threshold")
        f.setNumber(th, "InField", dist)
        f.setNumber(th, "SizeMin", surface_size / L)
        f.setNumber(th, "SizeMax", size / L)
        f.setNumber(th, "DistMin", surface_size / L)
        f.setNumber(th, "DistMax", 3 * size / L)
        f.setAsBackgroundMesh(th)
        p, t = _generate(gmsh)
        p = p * L
    except Exception as exc:  # gmsh raises plain Exception for a self-crossing outline
        if isinstance(exc, LithmapError):
            raise
        raise LithmapError(f"could not mesh the particle outline ({exc}); is it a simple closed curve?") from None
    finally:
        gmsh.finalize()
    return MeshTri1(p, _fix_orientation(p, t))
