"""Particle masks: one reader and one rule for every command that takes a mask.

**The rule.** A pixel (or voxel) belongs to the particle when its value is above half of the
image's maximum. For the usual binary masks (0/1, 0/255, 0/65535, True/False) that is "non-zero";
for anti-aliased or probability masks it is the 50 % level, so a soft edge does not grow the
particle. RGB(A) images are averaged over their colour channels first. A mask may also be the
``mask`` variable of a lithmap result (``lithmap contrast`` writes one); then its own ``y``/``x``
coordinates are kept, so a simulation of it lands on exactly the movie's grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError

__all__ = ["as_mask", "read_mask"]

_RESULT_SUFFIXES = (".nc", ".nc4", ".zarr")


def as_mask(values, *, source: str = "mask") -> np.ndarray:
    """Boolean particle mask from an array by lithmap's one rule (above half the maximum).

    Parameters
    ----------
    values : array_like
        A 2D image or 3D volume (bool, integer or float; an RGB(A) image is averaged over colour).
    source : str
        What the mask is, for error messages.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> as_mask([[0, 255], [255, 0]])
    array([[False,  True],
           [ True, False]])
    >>> as_mask([[0.0, 0.4], [0.6, 1.0]])
    array([[False, False],
           [ True,  True]])
    """
    m = np.asarray(values)
    if m.dtype == bool:
        return m
    if m.ndim == 3 and m.shape[-1] in (3, 4) and m.shape[0] > 4:
        m = m[..., :3].mean(axis=-1)
    m = m.astype(float)
    if np.isnan(m).any():
        m = np.where(np.isnan(m), 0.0, m)
    top = float(m.max()) if m.size else 0.0
    if not top > 0:
        raise LithmapError(f"mask {source!r} is empty (no pixel above zero)")
    return m > 0.5 * top


def read_mask(path, *, pixel_size: float | str | None = None, ndim: int | None = 2) -> xr.DataArray:
    """Read a particle mask as a boolean DataArray.

    Parameters
    ----------
    path : str, Path or xarray.DataArray
        A mask image (PNG, TIFF, BMP), a volume (TIFF stack, ``file.h5:/dataset``), a lithmap
        result with a ``mask`` variable (``.nc``/``.zarr``), a DataArray (returned as a mask), or
        ``"example"``: the particle outline shipped with lithmap
        (``lithmap.example_file("example_particle.png")``), as ``read_movie("example")`` and
        ``simulate("example", ...)`` take it.
    pixel_size : float or str, optional
        Pixel size in m (or a quantity such as ``"50 nm"``) for an image that does not record
        one. Without it, coordinates are pixel indices (``units`` attr ``"pixel"``); for
        ``"example"`` the default is ``lithmap.EXAMPLE_PIXEL_SIZE`` (50 nm).
    ndim : int or None
        Required number of dimensions: 2 (the default, an image ``(y, x)``), 3 (a volume
        ``(z, y, x)``) or None for either.

    Returns
    -------
    xarray.DataArray of bool
        Dims ``(y, x)`` or ``(z, y, x)``, coordinates in m (or pixels), attrs ``source`` and
        ``rule``.

    Raises
    ------
    LithmapError
        Missing or unreadable file, wrong number of dimensions, or an empty mask.

    Examples
    --------
    >>> import lithmap
    >>> m = read_mask(lithmap.example_file("example_particle.png"), pixel_size=50e-9)
    >>> m.dims, m.dtype.name, int(m.sum()) > 100
    (('y', 'x'), 'bool', True)
    >>> float(m.x[1] - m.x[0])
    5e-08

    The shipped example outline, at 50 nm pixels unless told otherwise:

    >>> ex = read_mask("example")
    >>> ex.shape, int(ex.sum()) == int(m.sum()), float(ex.x[1] - ex.x[0])
    ((56, 56), True, 5e-08)
    >>> read_mask("example", pixel_size="100 nm").x.values[:3].round(12).tolist()
    [0.0, 1e-07, 2e-07]
    """
    if isinstance(path, xr.DataArray):
        da = path
        source = str(da.attrs.get("source", da.name or "mask"))
        values = as_mask(da.values, source=source)
        out = xr.DataArray(values, dims=da.dims, coords={k: v for k, v in da.coords.items() if k in da.dims},
                           name="mask", attrs={"source": source})
        return _finish(out, ndim, source)
    if isinstance(path, str) and path.strip().lower() == "example":
        from ..datasets import EXAMPLE_PIXEL_SIZE, example_file

        path = str(example_file("example_particle.png"))
        pixel_size = EXAMPLE_PIXEL_SIZE if pixel_size is None else pixel_size
    text = str(path)
    p = Path(text.split(".h5:")[0] + ".h5" if ".h5:" in text else text)
    if not p.exists():
        raise LithmapError(f"mask file {text!r} does not exist")
    if p.suffix.lower() in _RESULT_SUFFIXES:
        from .results import read_result

        ds = read_result(p)
        if "mask" not in ds:
            raise LithmapError(f"result {text!r} has no 'mask' variable; it has {sorted(ds.data_vars)}")
        da = ds["mask"]
        out = xr.DataArray(as_mask(da.values, source=text), dims=da.dims,
                           coords={k: v for k, v in da.coords.items() if k in da.dims}, name="mask",
                           attrs={"source": text})
        return _finish(out, ndim, text)
    from .images import read_image

    try:
        img = read_image(text, pixel_size=pixel_size)
    except LithmapError as exc:
        if "colour or palette" not in str(exc):
            raise
        img = _colour_picture(p, pixel_size)
    values = as_mask(img.values, source=text)
    out = xr.DataArray(values, dims=img.dims, coords=img.coords, name="mask", attrs={"source": text})
    return _finish(out, ndim, text)


def _finish(da: xr.DataArray, ndim: int | None, source: str) -> xr.DataArray:
    if ndim is not None and da.ndim != ndim:
        want = "one 2D image (y, x)" if ndim == 2 else "a 3D volume (z, y, x)"
        raise LithmapError(f"mask {source!r} has shape {da.shape}; expected {want}")
    if not da.values.any():
        raise LithmapError(f"mask {source!r} is empty (no particle pixels)")
    da.attrs["rule"] = "particle = value above half the image maximum"
    return da


def _colour_picture(p: Path, pixel_size) -> xr.DataArray:
    """A colour or palette picture of a mask (movie frames must be grey, masks need not be):
    the mean of its red, green and blue channels, as the rule's docstring says."""
    from PIL import Image

    from .units import optional_quantity

    try:
        with Image.open(p) as im:
            grey = np.asarray(im.convert("RGB"), dtype=float).mean(axis=-1)
    except Exception as exc:  # PIL raises several unrelated types on damaged files
        raise LithmapError(f"mask file {str(p)!r} is not a readable image ({str(exc).splitlines()[0]})") from exc
    px = optional_quantity(pixel_size, "m", name="pixel_size", positive=True)
    coords = {d: (d, np.arange(n) * px if px else np.arange(n, dtype=float), {"units": "m" if px else "pixel"})
              for d, n in zip(("y", "x"), grey.shape)}
    return xr.DataArray(grey, dims=("y", "x"), coords=coords)
