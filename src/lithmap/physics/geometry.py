"""Particle geometries: what is simulated and on which grid the result is reported.

- :class:`Sphere` and :class:`Cylinder`: spherically / cylindrically symmetric, solved on a
  radial mesh, reported on dim ``r`` (m); :class:`HollowSphere`, a sphere with a concentric
  void (zero flux at the void surface), on ``r`` from the void radius to R.
- :class:`Disc`, :class:`Ellipse`, :class:`Polygon` and :func:`from_mask`: 2D basal-plane
  cross-sections (diffusion in-plane, flux through the edge), solved on a triangular mesh
  refined toward the edge and reported on a pixel grid ``y``, ``x`` (m). ``from_mask`` reports
  on the image's own pixel grid so a simulation can be compared pixel by pixel with a movie.

C-rate convention: 1C moves the particle's mean θ by the material's capacity fraction in one
hour, with the flux uniform over the surface. For a sphere this gives J/c_max = C·f·R/(3·3600);
for a 2D cross-section (a cylinder seen end-on) J/c_max = C·f·R/(2·3600) for a disc and
C·f·area/(perimeter·3600) in general.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from ..errors import LithmapError
from .mesh import Mesh, interpolation_matrix, polygon_mesh, radial_mesh, radial_nodes


def _positive(name, value):
    """A positive length in m from a number or a quantity string (``"8um"``)."""
    from ..io.units import parse_quantity

    text = value
    value = parse_quantity(value, "m", name=name)
    if not (np.isfinite(value) and value > 0):
        shown = text if isinstance(text, str) else value
        raise LithmapError(f"{name}={shown!r} is invalid; expected a positive length in m")
    return value


def _optional_length(name, value):
    return None if value is None else _positive(name, value)


@dataclasses.dataclass(frozen=True)
class Sphere:
    """A spherical particle, solved on a radial mesh and reported on dim ``r`` (m).

    Parameters
    ----------
    radius : float or str
        m, or a length with units (``"8um"``).

    Examples
    --------
    >>> Sphere("8um").radius
    8e-06
    >>> m = Sphere(1e-6).mesh(n=11)   # 11 uniform nodes; the default refines toward the surface
    >>> m.n, float(m.points[-1])
    (11, 1e-06)
    """

    radius: float
    kind = "sphere"

    def __post_init__(self):
        object.__setattr__(self, "radius", _positive("radius", self.radius))

    def mesh(self, *, surface_spacing=None, max_spacing=None, growth=1.03, n=None) -> Mesh:
        """The radial mesh: ``n`` uniform nodes, or refined toward the surface (spacings in m or
        with units; defaults in :func:`lithmap.physics.mesh.radial_nodes`)."""
        return radial_mesh(
            radial_nodes(self.radius, surface_spacing=_optional_length("surface_spacing", surface_spacing),
                         max_spacing=_optional_length("max_spacing", max_spacing), growth=growth, n=n),
            self.kind,
        )

    def describe(self) -> str:
        return f"sphere radius {self.radius:.4g} m"


@dataclasses.dataclass(frozen=True)
class HollowSphere(Sphere):
    """A sphere with a concentric central void of radius ``void`` (zero lithium flux at the void
    surface), solved on a radial mesh from ``void`` to ``radius`` and reported on dim ``r`` (m),
    which then starts at r = void. Text form: ``sphere:8um:void=0.5um``.

    Parameters
    ----------
    radius : float or str
        Outer radius, m or a length with units (``"8um"``).
    void : float or str
        Void radius, 0 < void < radius.

    Examples
    --------
    >>> h = HollowSphere("8um", "0.5um")
    >>> m = h.mesh(n=11)
    >>> float(m.points[0]), round(float(m.volume.sum() / (4 / 3 * 3.141592653589793 * (8e-6**3 - 0.5e-6**3))), 12)
    (5e-07, 1.0)
    >>> HollowSphere("8um", "8um")
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: void='8um' is invalid; the void radius must be smaller than the particle radius 8e-06 m
    """

    void: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        shown = self.void
        void = _positive("void", self.void)
        if not void < self.radius * (1 - 1e-9):
            raise LithmapError(
                f"void={shown!r} is invalid; the void radius must be smaller than the particle radius "
                f"{self.radius:.4g} m"
            )
        object.__setattr__(self, "void", void)

    def mesh(self, *, surface_spacing=None, max_spacing=None, growth=1.03, n=None) -> Mesh:
        """The radial mesh from the void surface to the outer surface (as :meth:`Sphere.mesh`)."""
        return radial_mesh(
            radial_nodes(self.radius, surface_spacing=_optional_length("surface_spacing", surface_spacing),
                         max_spacing=_optional_length("max_spacing", max_spacing), growth=growth, n=n,
                         inner=self.void),
            self.kind,
        )

    def describe(self) -> str:
        return f"hollow sphere radius {self.radius:.4g} m, central void radius {self.void:.4g} m"


@dataclasses.dataclass(frozen=True)
class Cylinder(Sphere):
    """An infinitely long cylinder (or a disc cross-section solved as 1D radial), on dim ``r``.

    Examples
    --------
    >>> Cylinder("1um").describe()
    'cylinder (radial 1D cross-section) radius 1e-06 m'
    """

    kind = "cylinder"

    def describe(self) -> str:
        return f"cylinder (radial 1D cross-section) radius {self.radius:.4g} m"


class Shape2D:
    """A 2D cross-section given by its outline polygon (m) and an output pixel grid."""

    boundary: np.ndarray
    pixel_size: float
    x: np.ndarray
    y: np.ndarray
    inside: np.ndarray  # (ny, nx) bool: pixels reported

    def _grid_from_outline(self, pixel_size):
        from matplotlib.path import Path as MplPath

        self.pixel_size = _positive("pixel_size", pixel_size)
        lo, hi = self.boundary.min(axis=0), self.boundary.max(axis=0)
        p = self.pixel_size
        self.x = np.arange(np.floor(lo[0] / p), np.ceil(hi[0] / p) + 1) * p
        self.y = np.arange(np.floor(lo[1] / p), np.ceil(hi[1] / p) + 1) * p
        if self.x.size * self.y.size > 4_000_000:
            raise LithmapError(f"pixel_size={p!r} m gives a {self.y.size}x{self.x.size} grid; use a larger pixel size")
        X, Y = np.meshgrid(self.x, self.y)
        self.inside = MplPath(self.boundary).contains_points(np.column_stack([X.ravel(), Y.ravel()])).reshape(X.shape)

    @property
    def size(self) -> float:
        """Equivalent radius sqrt(area/π), m."""
        x, y = self.boundary[:, 0], self.boundary[:, 1]
        area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
        return float(np.sqrt(area / np.pi))

    def mesh(self, *, surface_spacing=None, max_spacing=None, growth=1.15, n=None) -> Mesh:
        """The triangular mesh, refined toward the edge (spacings in m or with units)."""
        if n is not None:
            raise LithmapError("n (uniform node count) applies to radial meshes only; give surface_spacing")
        L = self.size
        hs = min(10e-9, L / 100) if surface_spacing is None else _positive("surface_spacing", surface_spacing)
        hm = L / 20 if max_spacing is None else _positive("max_spacing", max_spacing)
        return polygon_mesh(self.boundary, surface_spacing=hs, max_spacing=max(hm, hs), growth=growth)

    def centre(self) -> np.ndarray:
        """The centroid, or the point farthest from the edge when the centroid is outside."""
        from matplotlib.path import Path as MplPath

        x, y = self.boundary[:, 0], self.boundary[:, 1]
        cr = x * np.roll(y, -1) - np.roll(x, -1) * y
        a = cr.sum() / 2
        c = np.array([((x + np.roll(x, -1)) * cr).sum(), ((y + np.roll(y, -1)) * cr).sum()]) / (6 * a)
        if MplPath(self.boundary).contains_point(c):
            return c
        from scipy.spatial import cKDTree

        X, Y = np.meshgrid(self.x, self.y)
        pts = np.column_stack([X[self.inside], Y[self.inside]])
        d = cKDTree(self.boundary).query(pts)[0]
        return pts[np.argmax(d)]

    def grid_operator(self, mesh: Mesh):
        """Sparse matrix mapping node values to the ``inside`` pixels (row-major)."""
        X, Y = np.meshgrid(self.x, self.y)
        return interpolation_matrix(mesh, np.column_stack([X[self.inside], Y[self.inside]]))


def _ellipse_outline(a, b, n, angle=0.0, centre=(0.0, 0.0)):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = a * np.cos(t), b * np.sin(t)
    c, s = np.cos(angle), np.sin(angle)
    return np.column_stack([centre[0] + c * x - s * y, centre[1] + s * x + c * y])


class Disc(Shape2D):
    """A disc: a 2D basal-plane cross-section of a platelet (the geometry of the single-crystal
    NMC811 particles of Xu, Merryweather et al., Joule 2022), solved in-plane with the flux through
    its edge and reported on a pixel grid.

    Parameters
    ----------
    radius : float or str
        m, or a length with units (``"1um"``).
    pixel_size : float or str, optional
        Output pixel size (default radius/32).

    Examples
    --------
    >>> d = Disc("0.5um", pixel_size="50nm")
    >>> d.radius, d.inside.shape
    (5e-07, (21, 21))
    """

    kind = "planar"

    def __init__(self, radius: float, *, pixel_size: float | None = None):
        self.radius = _positive("radius", radius)
        self.boundary = _ellipse_outline(self.radius, self.radius, 2048)
        self._grid_from_outline(_optional_length("pixel_size", pixel_size) or self.radius / 32)

    def centre(self):
        return np.zeros(2)

    def describe(self):
        return f"disc radius {self.radius:.4g} m"


class Ellipse(Shape2D):
    """An ellipse with semi-axes ``a`` (along x before rotation) and ``b``, rotated by
    ``angle`` (radians): a 2D cross-section reported on a pixel grid.

    Examples
    --------
    >>> e = Ellipse("1um", "0.6um", pixel_size=100e-9)
    >>> round(e.size * 1e6, 4)   # equivalent radius sqrt(a b), µm
    0.7746
    """

    kind = "planar"

    def __init__(self, a: float, b: float, *, angle: float = 0.0, pixel_size: float | None = None):
        self.a, self.b, self.angle = _positive("a", a), _positive("b", b), float(angle)
        self.boundary = _ellipse_outline(self.a, self.b, 2048, self.angle)
        self._grid_from_outline(_optional_length("pixel_size", pixel_size) or min(self.a, self.b) / 32)

    def centre(self):
        return np.zeros(2)

    def describe(self):
        return f"ellipse semi-axes {self.a:.4g} m x {self.b:.4g} m"


class Polygon(Shape2D):
    """A simple polygon with ``vertices`` (n, 2) in m (x, y), reported on a pixel grid.

    Examples
    --------
    >>> sq = Polygon([[0, 0], [1e-6, 0], [1e-6, 1e-6], [0, 1e-6]], pixel_size=0.1e-6)
    >>> sq.inside.shape
    (11, 11)
    """

    kind = "planar"

    def __init__(self, vertices, *, pixel_size: float | None = None):
        v = np.asarray(vertices, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3 or not np.isfinite(v).all():
            raise LithmapError(f"polygon vertices have shape {v.shape}; expected (n >= 3, 2) finite values in m")
        self.boundary = v
        if self.size == 0:
            raise LithmapError("polygon has zero area")
        self._grid_from_outline(_optional_length("pixel_size", pixel_size) or self.size / 32)

    def describe(self):
        return f"polygon with {len(self.boundary)} vertices, equivalent radius {self.size:.4g} m"


class MaskShape(Shape2D):
    """A particle outline from a segmented image; results are reported on the image's pixels
    (its own ``x``, ``y`` coordinates, m). Make one with :func:`from_mask`."""

    kind = "planar"

    def __init__(self, mask: np.ndarray, pixel_size: float, *, source: str = "mask", x=None, y=None):
        from scipy import ndimage
        from skimage import measure

        from ..io.masks import as_mask

        m = as_mask(mask, source=source)
        if m.ndim != 2:
            raise LithmapError(f"mask {source!r} has shape {m.shape}; expected a 2D image")
        self.source = source
        self.pixel_size = _positive("pixel_size", pixel_size)
        if not m.any():
            raise LithmapError(f"mask {source!r} is empty (no particle pixels)")
        labels, nlab = ndimage.label(m)
        if nlab > 1:
            sizes = np.bincount(labels.ravel())[1:]
            raise LithmapError(
                f"mask {source!r} has {nlab} separate parts (sizes {sorted(sizes.tolist(), reverse=True)[:5]} pixels); "
                "give a mask of one particle"
            )
        filled = ndimage.binary_fill_holes(m)
        if (filled & ~m).any():
            raise LithmapError(
                f"mask {source!r} has {int((filled & ~m).sum())} hole pixel(s) inside the particle; fill them first"
            )
        if m.sum() < 9:
            raise LithmapError(f"mask {source!r} has only {int(m.sum())} pixels; a particle needs at least 9")
        self.x = np.arange(m.shape[1]) * self.pixel_size if x is None else np.asarray(x, dtype=float)
        self.y = np.arange(m.shape[0]) * self.pixel_size if y is None else np.asarray(y, dtype=float)
        padded = np.pad(m.astype(float), 2)
        smooth = ndimage.gaussian_filter(padded, 0.7)
        contours = measure.find_contours(smooth, 0.5)
        c = max(contours, key=len)
        rows, cols = c[:, 0] - 2, c[:, 1] - 2
        self.boundary = np.column_stack([self.x[0] + cols * self.pixel_size, self.y[0] + rows * self.pixel_size])
        if np.allclose(self.boundary[0], self.boundary[-1]):
            self.boundary = self.boundary[:-1]
        self.mask = m
        self.inside = m

    def describe(self):
        return (
            f"mask {self.source} ({int(self.mask.sum())} pixels of {self.pixel_size:.4g} m, "
            f"equivalent radius {self.size:.4g} m)"
        )


def _axis(da, dim: str, pixel_size, source: str) -> np.ndarray:
    """The coordinate of ``dim`` in m: from its ``units`` attr, or pixel indices × pixel_size."""
    from ..io.units import unit_scale

    n = da.sizes[dim]
    if dim in da.coords:
        values = np.asarray(da[dim].values, dtype=float)
        units = da[dim].attrs.get("units")
    else:
        values, units = np.arange(n, dtype=float), "pixel"
    if units == "pixel":
        if pixel_size is None:
            raise LithmapError(
                f"mask {source!r} does not record its pixel size; give pixel_size (--pixel-size, e.g. 50nm)"
            )
        return values * pixel_size
    scale = unit_scale(units, "m", default="m")
    if scale is None:
        raise LithmapError(f"mask {source!r}: coordinate {dim!r} has units {units!r}; expected a length such as 'm'")
    return values if scale == 1.0 else values * scale


def _from_dataarray(da, pixel_size, source: str) -> MaskShape:
    if tuple(da.dims) != ("y", "x"):
        raise LithmapError(f"mask {source!r} has dims {tuple(da.dims)}; expected ('y', 'x')")
    x, y = _axis(da, "x", pixel_size, source), _axis(da, "y", pixel_size, source)
    steps = []
    for name, c in (("x", x), ("y", y)):
        if c.size > 1:
            d = np.diff(c)
            if not (np.all(np.isfinite(d)) and d[0] > 0 and np.allclose(d, d[0], rtol=1e-6, atol=0)):
                raise LithmapError(f"mask {source!r}: its {name} coordinate is not evenly spaced and increasing")
            steps.append((name, float(c[1] - c[0])))
    if not steps:
        raise LithmapError(f"mask {source!r} is a single pixel; a particle needs at least 9")
    px = steps[0][1]
    if len(steps) == 2 and not np.isclose(steps[0][1], steps[1][1], rtol=1e-6, atol=0):
        raise LithmapError(
            f"mask {source!r} has x spacing {steps[0][1]:.6g} m and y spacing {steps[1][1]:.6g} m; "
            "pixels must be square"
        )
    if pixel_size is not None and not np.isclose(px, pixel_size, rtol=1e-6, atol=0):
        raise LithmapError(
            f"pixel_size={pixel_size:.6g} m disagrees with the {px:.6g} m spacing of the coordinates of mask {source!r}"
        )
    if pixel_size is not None:
        px = pixel_size
    return MaskShape(da.values, px, source=source, x=x, y=y)


def from_mask(mask, pixel_size=None, *, source: str | None = None) -> MaskShape:
    """The outline of one particle from a segmented image, reported on the image's own grid.

    The mask is read by :func:`lithmap.read_mask` (lithmap's one mask rule: a pixel belongs to
    the particle when its value is above half the image maximum). The outline is the 0.5
    contour of the mask smoothed by a 0.7-pixel Gaussian, so the pixel staircase does not
    lengthen the perimeter that lithium crosses.

    Parameters
    ----------
    mask : str, Path, xarray.DataArray or array_like
        A mask image (PNG/TIFF), a lithmap result with a ``mask`` variable (e.g. what
        ``lithmap contrast`` writes), a DataArray on dims ``(y, x)`` with coordinates in m
        (their spacing is the pixel size), or a 2D array (needs ``pixel_size``).
    pixel_size : float or str, optional
        m or a length with units; needed when the mask does not record one.
    source : str, optional
        What the mask is, for messages and the ``geometry`` attr.

    Returns
    -------
    MaskShape
        With ``x``, ``y`` (m) and ``inside`` (the particle pixels) of the mask's grid.

    Raises
    ------
    LithmapError
        Unreadable or empty mask, several particles, holes, no pixel size, non-square pixels.

    Examples
    --------
    >>> import lithmap as lm
    >>> shape = from_mask(lm.example_file("example_particle.png"), 50e-9)
    >>> shape.inside.shape, float(shape.x[1])
    ((56, 56), 5e-08)
    >>> import numpy as np
    >>> yy, xx = np.mgrid[0:20, 0:20]
    >>> round(from_mask(np.hypot(xx - 9.5, yy - 9.5) < 8, 50e-9).size * 1e9)   # equivalent radius, nm
    405
    """
    import xarray as xr

    from ..io.masks import as_mask, read_mask

    px = _optional_length("pixel_size", pixel_size)
    if isinstance(mask, (str, Path)):
        da = read_mask(mask, pixel_size=px)
        return _from_dataarray(da, px, source or str(mask))
    if isinstance(mask, xr.DataArray):
        name = source or str(mask.attrs.get("source", f"DataArray {mask.name or 'mask'!r}"))
        return _from_dataarray(read_mask(mask), px, name)
    name = source or "mask"
    if px is None:
        raise LithmapError(f"mask {name!r} is an array; give its pixel_size (e.g. 50e-9 or '50nm')")
    return MaskShape(as_mask(mask, source=name), px, source=name)


_SHAPE_HELP = ("expected sphere:<R>, sphere:<R>:void=<a>, sphere:<R>:void=<a>:pores=<n>, cylinder:<R>, disc:<R>, "
               "ellipse:<a>x<b>, example, a mask image or a contrast result")


_CAVITY_KEYS = ("void", "pores", "pore_radius", "pore_distance")


def _sphere_with_cavities(text, arg):
    """``sphere:<R>:void=<a>[:pores=<n>[:pore_radius=<b>][:pore_distance=<d>]]``: a hollow sphere
    (radial), or with pores the axisymmetric :class:`~lithmap.physics.fem_mesh.PorousSphere`."""
    from ..io.units import parse_quantity
    from .fem_mesh import porous_sphere

    radius, *pairs = [p.strip() for p in arg.split(":")]
    given = {}
    for pair in pairs:
        key, sep, value = (v.strip() for v in pair.partition("="))
        if not sep or key.lower() not in _CAVITY_KEYS or not value:
            raise LithmapError(f"shape={text!r} is invalid; {pair!r} is not one of "
                               + ", ".join(f"{k}=<value>" for k in _CAVITY_KEYS))
        given[key.lower()] = value
    R = parse_quantity(radius, "m", name="shape")
    if "pores" not in given:
        if set(given) - {"void"}:
            raise LithmapError(f"shape={text!r} is invalid; pore_radius and pore_distance need pores=<n>")
        return HollowSphere(R, parse_quantity(given["void"], "m", name="void"))
    try:
        n = int(given["pores"])
    except ValueError:
        raise LithmapError(f"shape={text!r} is invalid; pores={given['pores']!r} is not a whole number") from None
    kw = {k: given[k] for k in ("pore_radius", "pore_distance") if k in given}
    return porous_sphere(R, void=given.get("void", 0.0), pores=n, **kw)


def parse_shape(shape, *, pixel_size=None):
    """The particle geometry from a text (as on the command line), a mask or a geometry.

    Parameters
    ----------
    shape : str, Path, xarray.DataArray or geometry
        ``sphere:8um``, ``sphere:8um:void=0.5um`` (a central void), ``sphere:8um:void=0.5um:pores=2``
        (and a pore of 0.2 µm on the axis 1.1 µm above and below the centre — change them with
        ``:pore_radius=<b>:pore_distance=<d>``; axisymmetric, :func:`~lithmap.physics.fem_mesh.porous_sphere`),
        ``cylinder:1um``, ``disc:1um``,
        ``ellipse:2umx1.2um`` (semi-axes),
        ``example`` (the shipped example particle, 50 nm pixels), a mask image path, a lithmap
        result with a ``mask`` variable (``movie.nc`` from ``lithmap contrast``: θ is then
        reported on exactly its ``y``, ``x``), a mask DataArray, or a geometry object (returned
        as it is).
    pixel_size : float or str, optional
        Pixel size (m or with units) of a mask that does not record one, or of the output grid
        of a disc or an ellipse.

    Returns
    -------
    Sphere, HollowSphere, PorousSphere, Cylinder, Disc, Ellipse, Polygon or MaskShape

    Examples
    --------
    >>> parse_shape("sphere:8um")
    Sphere(radius=8e-06)
    >>> parse_shape("sphere:8um:void=0.5um")
    HollowSphere(radius=8e-06, void=5e-07)
    >>> parse_shape("sphere:8um:void=0.5um:pores=2").pores   # (r, z, radius) of each pore, m
    ((0.0, 1.1e-06, 2e-07), (0.0, -1.1e-06, 2e-07))
    >>> parse_shape("ellipse:2umx1.2um").describe()
    'ellipse semi-axes 2e-06 m x 1.2e-06 m'
    >>> parse_shape("example").inside.shape
    (56, 56)
    """
    import xarray as xr

    from ..datasets import EXAMPLE_PIXEL_SIZE, example_file
    from ..io.units import parse_quantity
    from .fem_mesh import PorousSphere

    px = _optional_length("pixel_size", pixel_size)
    if isinstance(shape, (Sphere, Shape2D, PorousSphere)):
        return shape
    if isinstance(shape, (Path, xr.DataArray)) or (not isinstance(shape, str) and hasattr(shape, "shape")):
        return from_mask(shape, px)
    if not isinstance(shape, str):
        raise LithmapError(f"shape={shape!r} is invalid; {_SHAPE_HELP}")
    text = shape
    s = text.strip()
    if s.lower() == "example":
        return from_mask(example_file("example_particle.png"), px or EXAMPLE_PIXEL_SIZE, source="example particle")
    m = re.fullmatch(r"(?i)(sphere|cylinder|disc|disk|ellipse):(.+)", s)
    if m:
        kind, arg = m.group(1).lower(), m.group(2)
        if kind == "ellipse":
            parts = re.split(r"(?i)x(?=\s*[0-9.])", arg)
            if len(parts) != 2:
                raise LithmapError(f"shape={text!r} is invalid; expected 'ellipse:<a>x<b>' such as 'ellipse:2umx1.2um'")
            a, b = (parse_quantity(p, "m", name="shape") for p in parts)
            return Ellipse(a, b, pixel_size=px)
        if kind == "sphere" and ":" in arg:
            return _sphere_with_cavities(text, arg)
        r = parse_quantity(arg, "m", name="shape")
        if kind == "sphere":
            return Sphere(r)
        if kind == "cylinder":
            return Cylinder(r)
        return Disc(r, pixel_size=px)
    suffix = Path(s).suffix.lower()
    if suffix in (".png", ".tif", ".tiff", ".bmp", ".nc", ".nc4", ".zarr", ".h5") or Path(s).exists():
        return from_mask(s, px)
    raise LithmapError(f"shape={text!r} is invalid; {_SHAPE_HELP}")
