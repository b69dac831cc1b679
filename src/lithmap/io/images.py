"""Single images and volumes — a map, a mask, a tomogram — as labelled DataArrays.

Every format :mod:`lithmap.io.movies` reads is accepted (PNG, TIFF, HDF5 ``file.h5:/dataset``,
TDMS); a TIFF stack or a 3D HDF5 dataset is a volume (z, y, x). Movies (time, y, x) are read by
:func:`lithmap.read_movie`, particle masks by :func:`lithmap.read_mask`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError
from .units import optional_quantity

__all__ = ["pixel_size_of", "read_image"]


def read_image(path, *, pixel_size: float | str | None = None) -> xr.DataArray:
    """Read one image (y, x) or volume (z, y, x) — a map, a mask, a tomogram — as a DataArray.

    Parameters
    ----------
    path : str or Path
        PNG/TIFF image, TIFF stack (a volume), or HDF5 ``file.h5:/dataset``.
    pixel_size : float or str, optional
        Pixel (voxel) size in m (or a quantity such as ``"50 nm"``), when the file does not
        record it. Without either, coordinates are pixel indices (``units`` attr ``"pixel"``).

    Returns
    -------
    xarray.DataArray
        The values as stored, dims ``(y, x)`` or ``(z, y, x)``, coordinates in m (or pixels),
        attrs ``source``, ``format`` and, when known, ``pixel_size`` (m).

    Raises
    ------
    LithmapError
        Missing, unreadable or truncated file, or one that is neither an image nor a volume.

    Examples
    --------
    >>> import lithmap
    >>> img = read_image(lithmap.example_file("example_particle.png"), pixel_size=50e-9)
    >>> img.dims, img.shape
    (('y', 'x'), (56, 56))
    >>> img.x.attrs["units"], float(img.x[1])
    ('m', 5e-08)
    >>> read_image(lithmap.example_file("example_movie.tif")).dims   # a stack is a volume
    ('z', 'y', 'x')
    """
    from .movies import _open_stack

    values, meta = _open_stack(path, require_stack=False)
    values = np.asarray(values)
    px = optional_quantity(pixel_size, "m", name="pixel_size", positive=True)
    if px is None:
        px = meta.get("pixel_size_m")
    dims = ("z", "y", "x")[-values.ndim:] if values.ndim in (2, 3) else None
    if dims is None:
        raise LithmapError(f"image {str(path)!r} has shape {values.shape}; expected an image (y, x) or a volume "
                           "(z, y, x)")
    coords = {d: (d, np.arange(n) * float(px) if px else np.arange(n, dtype=float), {"units": "m" if px else "pixel"})
              for d, n in zip(dims, values.shape)}
    attrs = {"source": str(path), "format": meta.get("format", "")}
    if px:
        attrs["pixel_size"] = float(px)
    return xr.DataArray(values, dims=dims, coords=coords, attrs=attrs)



def pixel_size_of(data) -> float | None:
    """The pixel size (m) of labelled data: its ``pixel_size`` attr, else the step of its ``x``
    coordinate when that is in m; None for plain arrays and pixel coordinates.

    The one rule every map, movie and figure uses to find its scale.

    Parameters
    ----------
    data : xarray.DataArray, xarray.Dataset or array_like

    Returns
    -------
    float or None

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> pixel_size_of(xr.DataArray(np.zeros((2, 3)), dims=("y", "x"),
    ...                            coords={"x": ("x", [0.0, 5e-8, 1e-7], {"units": "m"})}))
    5e-08
    >>> pixel_size_of(np.zeros((2, 3))) is None
    True
    """
    if not isinstance(data, (xr.DataArray, xr.Dataset)):
        return None
    px = data.attrs.get("pixel_size")
    if px is not None:
        return float(px)
    if "x" not in data.coords:
        return None
    x = data["x"]
    if x.attrs.get("units") != "m" or x.size < 2:
        return None
    return float(x[1] - x[0])
