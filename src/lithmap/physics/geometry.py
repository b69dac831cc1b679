"""Particle geometries: what is simulated and on which grid the result is reported.

- :class:`Sphere` and :class:`Cylinder`: spherically / cylindrically symmetric, solved on a
  radial mesh, reported on dim ``r`` (m).
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
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise LithmapError(f"{name}={value!r} is invalid; expected a positive length in m")
    return value


@dataclasses.dataclass(frozen=True)
class Sphere:
    """A spherical particle of ``radius`` (m)."""

    radius: float
    kind = "sphere"

    def __post_init__(self):
        _positive("radius", self.radius)

    def mesh(self, *, surface_spacing=None, max_spacing=None, growth=1.03, n=None) -> Mesh:
        return radial_mesh(
            radial_nodes(self.radius, surface_spacing=surface_spacing, max_spacing=max_spacing, growth=growth, n=n),
            self.kind,
        )

    def describe(self) -> str:
        return f"sphere radius {self.radius:.4g} m"


@dataclasses.dataclass(frozen=True)
class Cylinder(Sphere):
    """An infinitely long cylinder (or a disc cross-section solved as 1D radial)."""

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
    """A disc of ``radius`` (m): a 2D basal-plane cross-section (seed1's geometry)."""

    kind = "planar"

    def __init__(self, radius: float, *, pixel_size: float | None = None):
        self.radius = _positive("radius", radius)
        self.boundary = _ellipse_outline(self.radius, self.radius, 2048)
        self._grid_from_outline(pixel_size or self.radius / 32)

    def centre(self):
        return np.zeros(2)

    def describe(self):
        return f"disc radius {self.radius:.4g} m"


class Ellipse(Shape2D):
    """An ellipse with semi-axes ``a`` (along x before rotation) and ``b`` (m), rotated by
    ``angle`` (radians)."""

    kind = "planar"

    def __init__(self, a: float, b: float, *, angle: float = 0.0, pixel_size: float | None = None):
        self.a, self.b, self.angle = _positive("a", a), _positive("b", b), float(angle)
        self.boundary = _ellipse_outline(self.a, self.b, 2048, self.angle)
        self._grid_from_outline(pixel_size or min(self.a, self.b) / 32)

    def centre(self):
        return np.zeros(2)

    def describe(self):
        return f"ellipse semi-axes {self.a:.4g} m x {self.b:.4g} m"


class Polygon(Shape2D):
    """A simple polygon with ``vertices`` (n, 2) in m (x, y)."""

    kind = "planar"

    def __init__(self, vertices, *, pixel_size: float | None = None):
        v = np.asarray(vertices, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3 or not np.isfinite(v).all():
            raise LithmapError(f"polygon vertices have shape {v.shape}; expected (n >= 3, 2) finite values in m")
        self.boundary = v
        if self.size == 0:
            raise LithmapError("polygon has zero area")
        self._grid_from_outline(pixel_size or self.size / 32)

    def describe(self):
        return f"polygon with {len(self.boundary)} vertices, equivalent radius {self.size:.4g} m"


class MaskShape(Shape2D):
    """A particle outline from a segmented image; results are reported on the image's pixels."""

    kind = "planar"

    def __init__(self, mask: np.ndarray, pixel_size: float, *, source: str = "mask"):
        from scipy import ndimage
        from skimage import measure

        m = np.asarray(mask)
        if m.ndim == 3 and m.shape[-1] in (3, 4):
            m = m[..., :3].mean(axis=-1)
        if m.ndim != 2:
            raise LithmapError(f"mask {source!r} has shape {m.shape}; expected a 2D image")
        m = m > (0.5 * m.max() if m.dtype != bool and m.max() > 1 else 0) if m.dtype != bool else m
        self.source = source
        self.pixel_size = _positive("pixel_size", pixel_size)
        if not m.any():
            raise LithmapError(f"mask {source!r} is empty (no particle pixels)")
        labels, nlab = ndimage.label(m)
        if nlab > 1:
            sizes = np.bincount(labels.ravel())[1:]
            raise LithmapError(
                f"mask {source!r} has {nlab} separate parts (sizes {sorted(sizes.tolist(), reverse=True)[:5]} px); "
                "give a mask of one particle"
            )
        filled = ndimage.binary_fill_holes(m)
        if (filled & ~m).any():
            raise LithmapError(
                f"mask {source!r} has {int((filled & ~m).sum())} hole pixel(s) inside the particle; fill them first"
            )
        if m.sum() < 9:
            raise LithmapError(f"mask {source!r} has only {int(m.sum())} pixels; a particle needs at least 9")
        padded = np.pad(m.astype(float), 2)
        smooth = ndimage.gaussian_filter(padded, 0.7)
        contours = measure.find_contours(smooth, 0.5)
        c = max(contours, key=len)
        rows, cols = c[:, 0] - 2, c[:, 1] - 2
        self.boundary = np.column_stack([cols * self.pixel_size, rows * self.pixel_size])
        if np.allclose(self.boundary[0], self.boundary[-1]):
            self.boundary = self.boundary[:-1]
        self.mask = m
        self.x = np.arange(m.shape[1]) * self.pixel_size
        self.y = np.arange(m.shape[0]) * self.pixel_size
        self.inside = m

    def describe(self):
        return (
            f"mask {self.source} ({int(self.mask.sum())} px of {self.pixel_size:.4g} m, "
            f"equivalent radius {self.size:.4g} m)"
        )


def from_mask(mask, pixel_size: float, *, source: str = "mask") -> MaskShape:
    """The outline of one particle from a segmented image (bool array, or a PNG/TIFF path).

    The outline is the 0.5 contour of the mask smoothed by a 0.7-pixel Gaussian, so the
    pixel staircase does not lengthen the perimeter that lithium crosses.
    """
    if isinstance(mask, (str, Path)):
        path = Path(mask)
        if not path.is_file():
            raise LithmapError(f"mask file {str(path)!r} does not exist")
        try:
            from PIL import Image

            with Image.open(path) as im:
                arr = np.asarray(im)
        except Exception as exc:
            raise LithmapError(f"mask file {str(path)!r} is not a readable image ({exc})") from exc
        return MaskShape(arr, pixel_size, source=str(path))
    return MaskShape(mask, pixel_size, source=source)


def parse_shape(text: str, *, pixel_size: float | None = None):
    """Parse the CLI shape: ``sphere:8um``, ``cylinder:1um``, ``disc:1um``, ``ellipse:2umx1.2um``
    (semi-axes) or a mask image path (needs ``pixel_size``)."""
    from ..io.units import parse_quantity

    s = text.strip()
    m = re.fullmatch(r"(?i)(sphere|cylinder|disc|disk|ellipse):(.+)", s)
    if m:
        kind, arg = m.group(1).lower(), m.group(2)
        if kind == "ellipse":
            parts = re.split(r"(?i)x(?=\s*[0-9.])", arg)
            if len(parts) != 2:
                raise LithmapError(f"shape={text!r} is invalid; expected 'ellipse:<a>x<b>' such as 'ellipse:2umx1.2um'")
            a, b = (parse_quantity(p, "m", name="shape") for p in parts)
            return Ellipse(a, b, pixel_size=pixel_size)
        r = parse_quantity(arg, "m", name="shape")
        if kind == "sphere":
            return Sphere(r)
        if kind == "cylinder":
            return Cylinder(r)
        return Disc(r, pixel_size=pixel_size)
    if Path(s).suffix.lower() in (".png", ".tif", ".tiff", ".bmp") or Path(s).exists():
        if pixel_size is None:
            raise LithmapError(f"shape={text!r} is a mask image; give its --pixel-size (e.g. 50nm)")
        return from_mask(s, pixel_size)
    raise LithmapError(
        f"shape={text!r} is invalid; expected sphere:<R>, cylinder:<R>, disc:<R>, ellipse:<a>x<b> or a mask image"
    )
