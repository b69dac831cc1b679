"""Where in the particle: equal-area rings (2D) or equal-volume shells (3D), and particles.

- :func:`equal_area_rings`: ``n`` rings of equal area (2D) or shells of equal volume (3D) from
  the edge inward (ring 0 = outermost), by the distance of each pixel/voxel to the particle's edge;
- :func:`find_particles`: every particle of a field of view, labelled, with a table.

Flicker normalisation and line profiles are part of the chunked contrast pipeline
(:mod:`lithmap.imaging.contrast`, :mod:`lithmap.imaging.profiles`).
"""

from __future__ import annotations

import numpy as np

from ..errors import LithmapError


def equal_area_rings(mask, n: int = 5) -> np.ndarray:
    """Shell index per pixel or voxel (−1 outside): 0 the outermost 1/n of the particle … n−1 the core.

    Works for a 2D mask (rings of equal area) and a 3D mask (shells of equal volume) alike:
    the pixels/voxels are ranked by their Euclidean distance to the nearest point outside the
    mask (the array border counts as outside) and cut into ``n`` groups of equal count, edge
    first, so shell ``k`` holds the ``k/n``–``(k+1)/n`` fraction of the area/volume counted from
    the surface inward (seed2: 0–20 %, …, 80–100 %). Group sizes differ by at most one pixel.

    Parameters
    ----------
    mask : array_like of bool, 2D or 3D
        The particle.
    n : int
        Number of rings/shells, 1 ≤ n ≤ number of particle pixels.

    Returns
    -------
    numpy.ndarray of int
        Same shape as ``mask``; −1 outside the particle.

    Examples
    --------
    >>> import numpy as np
    >>> z, y, x = np.mgrid[-10:11, -10:11, -10:11]
    >>> shells = equal_area_rings(x**2 + y**2 + z**2 <= 100, 5)
    >>> np.bincount(shells[shells >= 0]).tolist()
    [834, 834, 834, 834, 833]
    """
    from scipy import ndimage

    m = np.asarray(mask, bool)
    if m.ndim not in (2, 3):
        raise LithmapError(f"mask has shape {m.shape}; expected a 2D image or a 3D volume")
    if not m.any():
        raise LithmapError("the particle mask is empty")
    if not (isinstance(n, (int, np.integer)) and 1 <= n <= m.sum()):
        raise LithmapError(f"n={n!r} rings is invalid for a particle of {int(m.sum())} pixels")
    # one layer of background around the array: a mask touching (or filling) the array still has a surface
    d = ndimage.distance_transform_edt(np.pad(m, 1))[(slice(1, -1),) * m.ndim]
    order = np.argsort(d[m], kind="stable")  # edge first
    ring = np.empty(order.size, dtype=int)
    ring[order] = (np.arange(order.size) * n) // order.size
    out = np.full(m.shape, -1, dtype=int)
    out[m] = ring
    return out


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
