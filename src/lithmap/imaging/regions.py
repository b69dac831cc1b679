"""Where in the particle: equal-area rings, the centre, a line through it, and flicker.

- :func:`equal_area_rings`: ``n`` rings of equal area from the edge inward (ring 0 = outermost),
  by the distance of each pixel to the particle's edge;
- :func:`normalise_flicker`: divide each frame by its background (matrix) level relative to the
  reference frame — the particle's own change is untouched, lamp/camera flicker is removed;
- :func:`major_axis_profile`: values along the particle's major axis through its centroid.
"""

from __future__ import annotations

import numpy as np

from ..errors import LithmapError


def equal_area_rings(mask, n: int = 5) -> np.ndarray:
    """Ring index per pixel (−1 outside): 0 the outermost 1/n of the area … n−1 the core."""
    from scipy import ndimage

    m = np.asarray(mask, bool)
    if not m.any():
        raise LithmapError("the particle mask is empty")
    if not (isinstance(n, (int, np.integer)) and 1 <= n <= m.sum()):
        raise LithmapError(f"n={n!r} rings is invalid for a particle of {int(m.sum())} pixels")
    d = ndimage.distance_transform_edt(m)
    order = np.argsort(d[m], kind="stable")  # edge first
    ring = np.empty(order.size, dtype=int)
    ring[order] = (np.arange(order.size) * n) // order.size
    out = np.full(m.shape, -1, dtype=int)
    out[m] = ring
    return out


def normalise_flicker(stack, mask, *, reference: int = 0, margin: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(stack / factor, factor)`` with factor = background median / the reference's,
    the background being the pixels more than ``margin`` px away from the particle."""
    from scipy import ndimage

    s = np.asarray(stack, float)
    far = ~ndimage.binary_dilation(np.asarray(mask, bool), iterations=margin)
    if far.sum() < 10:
        raise LithmapError("too little background around the particle to normalise flicker")
    bg = np.median(s[:, far], axis=1)
    factor = bg / bg[reference]
    return s / factor[:, None, None], factor


def major_axis_profile(mask, field, *, n: int | None = None):
    """Sample ``field`` (…, y, x) along the particle's major axis through its centroid.
    Returns ``(distance_px, values)`` with values on the last axis."""
    from scipy import ndimage
    from skimage.measure import regionprops

    props = regionprops(np.asarray(mask, np.uint8))[0]
    cy, cx = props.centroid
    theta = props.orientation  # angle between the row axis and the major axis
    half = props.axis_major_length / 2
    n = n or int(np.ceil(2 * half)) + 1
    s = np.linspace(-half, half, n)
    ys, xs = cy + s * np.cos(theta), cx + s * np.sin(theta)
    f = np.asarray(field, float)
    flat = f.reshape((-1,) + f.shape[-2:])
    vals = np.array([ndimage.map_coordinates(fr, [ys, xs], order=1, mode="nearest") for fr in flat])
    return s, vals.reshape(f.shape[:-2] + (n,))


def find_particles(frame, *, min_area: int = 20, exclude_edge: bool = False, pixel_size: float | None = None):
    """Segment the bright particles of one frame (Otsu threshold, labelling, holes filled).

    Returns ``(labels, table)``: a label image (0 = matrix) and an xarray Dataset on dim
    ``particle`` with ``area`` (px and, with ``pixel_size``, m²), ``equivalent_diameter``,
    ``centroid_y``/``centroid_x`` (px) and ``touches_edge``. Regions smaller than ``min_area``
    pixels are dropped; with ``exclude_edge`` so are those touching the image border.
    """
    import xarray as xr
    from scipy import ndimage
    from skimage.filters import threshold_otsu
    from skimage.measure import label, regionprops

    f = np.asarray(frame, float)
    if f.ndim != 2:
        raise LithmapError(f"frame has shape {f.shape}; expected one 2D image")
    fg = ndimage.binary_fill_holes(f > threshold_otsu(f))
    lab = label(fg, connectivity=2)
    keep = []
    for rp in regionprops(lab):
        r0, c0, r1, c1 = rp.bbox
        edge = r0 == 0 or c0 == 0 or r1 == f.shape[0] or c1 == f.shape[1]
        if rp.area >= min_area and not (exclude_edge and edge):
            keep.append((rp, edge))
    out = np.zeros_like(lab)
    for k, (rp, _) in enumerate(keep, start=1):
        out[lab == rp.label] = k
    if not keep:
        raise LithmapError(f"no particles of at least {min_area} pixels found")
    p = 1.0 if pixel_size is None else float(pixel_size)
    table = xr.Dataset(
        {
            "area_px": ("particle", np.array([rp.area for rp, _ in keep])),
            "area": ("particle", np.array([rp.area for rp, _ in keep]) * p**2, {"units": "m^2" if pixel_size else "px"}),
            "equivalent_diameter": ("particle", np.array([rp.equivalent_diameter_area for rp, _ in keep]) * p,
                                    {"units": "m" if pixel_size else "px"}),
            "centroid_y": ("particle", np.array([rp.centroid[0] for rp, _ in keep]), {"units": "px"}),
            "centroid_x": ("particle", np.array([rp.centroid[1] for rp, _ in keep]), {"units": "px"}),
            "touches_edge": ("particle", np.array([e for _, e in keep], dtype=np.int8)),
        },
        coords={"particle": np.arange(1, len(keep) + 1)},
    )
    return out, table
