"""Where in the particle: equal-area rings (2D) or equal-volume shells (3D), and particles.

- :func:`equal_area_rings`: ``n`` rings of equal area (2D) or shells of equal volume (3D) from
  the edge inward (ring 0 = outermost), by the distance of each pixel/voxel to the particle's edge;
- :func:`find_particles`: every particle of a field of view, labelled, with a table.

Flicker normalisation and line profiles are part of the chunked contrast pipeline
(:mod:`lithmap.imaging.contrast`, :mod:`lithmap.imaging.profiles`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.images import pixel_size_of


def equal_area_rings(mask, n: int = 5) -> np.ndarray:
    """Shell index per pixel or voxel (−1 outside): 0 the outermost 1/n of the particle … n−1 the core.

    Works for a 2D mask (rings of equal area) and a 3D mask (shells of equal volume) alike:
    the pixels/voxels are ranked by their Euclidean distance to the nearest point outside the
    mask (the array border counts as outside) and cut into ``n`` groups of equal count, edge
    first, so shell ``k`` holds the ``k/n``–``(k+1)/n`` fraction of the area/volume counted from
    the surface inward (Liu, Zeng et al., Nat. Nanotechnol. 2024: 0–20 %, …, 80–100 %). Group sizes
    differ by at most one pixel.

    Parameters
    ----------
    mask : array_like or xarray.DataArray of bool, 2D or 3D
        The particle (e.g. :func:`lithmap.read_mask`).
    n : int
        Number of rings/shells, 1 ≤ n ≤ number of particle pixels.

    Returns
    -------
    numpy.ndarray or xarray.DataArray of int
        Same shape as ``mask`` (labelled like it when it is a DataArray); −1 outside the particle.

    Examples
    --------
    >>> import numpy as np
    >>> z, y, x = np.mgrid[-10:11, -10:11, -10:11]
    >>> shells = equal_area_rings(x**2 + y**2 + z**2 <= 100, 5)
    >>> np.bincount(shells[shells >= 0]).tolist()
    [834, 834, 834, 834, 833]
    >>> import lithmap
    >>> rings = equal_area_rings(lithmap.read_mask(lithmap.example_file("example_particle.png")), 5)
    >>> rings.dims, int(rings.max())
    (('y', 'x'), 4)
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
    if isinstance(mask, xr.DataArray):
        return xr.DataArray(out, dims=mask.dims, coords={d: mask[d] for d in mask.dims if d in mask.coords},
                            name="ring", attrs={"long_name": "equal-area ring from the edge (0) inward; -1 outside"})
    return out


def find_particles(frame, *, min_area: int = 20, exclude_edge: bool = False, pixel_size: float | None = None):
    """Segment the bright particles of one frame (Otsu threshold, labelling, holes filled).

    Parameters
    ----------
    frame : array_like or xarray.DataArray (y, x)
        One image; a DataArray from :func:`lithmap.read_movie` (one frame) or
        :func:`lithmap.read_image` gives its pixel size through its ``x`` coordinate (m).
    min_area : int
        Smallest particle kept, pixels.
    exclude_edge : bool
        Drop particles touching the image border.
    pixel_size : float or str, optional
        Pixel size in m (or ``"50 nm"``); default: from ``frame``'s coordinates, else none.

    Returns
    -------
    labels : numpy.ndarray of int
        The label image (0 = matrix, particles 1, 2, … in the table's order).
    table : xarray.Dataset
        On dim ``particle``: ``pixel_count``, ``area`` (m², or pixels without a pixel size),
        ``equivalent_diameter`` (m, or pixels), ``centroid_y``/``centroid_x`` (pixels) and
        ``touches_edge`` (0/1).

    Raises
    ------
    LithmapError
        Not one 2D image, or no particle of at least ``min_area`` pixels.

    Examples
    --------
    >>> import lithmap
    >>> labels, table = find_particles(lithmap.read_movie("example")[0])
    >>> table.sizes["particle"], int(table.pixel_count[0]), round(float(table.equivalent_diameter[0]) * 1e6, 2)
    (1, 1229, 1.98)
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu
    from skimage.measure import label, regionprops

    from ..io.units import optional_quantity

    pixel_size = optional_quantity(pixel_size, "m", name="pixel_size", positive=True)
    if pixel_size is None:
        pixel_size = pixel_size_of(frame)
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
            "pixel_count": ("particle", np.array([rp.area for rp, _ in keep]), {"long_name": "pixels in the particle"}),
            "area": ("particle", np.array([rp.area for rp, _ in keep]) * p**2,
                     {"units": "m^2" if pixel_size else "pixel^2"}),
            "equivalent_diameter": ("particle", np.array([rp.equivalent_diameter_area for rp, _ in keep]) * p,
                                    {"units": "m" if pixel_size else "pixel"}),
            "centroid_y": ("particle", np.array([rp.centroid[0] for rp, _ in keep]), {"units": "pixel"}),
            "centroid_x": ("particle", np.array([rp.centroid[1] for rp, _ in keep]), {"units": "pixel"}),
            "touches_edge": ("particle", np.array([e for _, e in keep], dtype=np.int8)),
        },
        coords={"particle": np.arange(1, len(keep) + 1)},
    )
    return out, table

