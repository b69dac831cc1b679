"""Tilt series from files: NetCDF/HDF5 with ``projections`` on (angle, y, x) or (energy, angle, y, x)
and ``angle`` in degrees, or a TIFF stack (one projection per page) with its angles given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.units import optional_quantity

__all__ = ["parse_angles", "read_projections"]


def parse_angles(angles, n: int | None = None) -> np.ndarray:
    """Tilt angles in degrees from ``"LO:HI:STEP"`` (HI included), a text file (one angle per
    line, ``#`` comments), or the numbers themselves; with ``n``, checked to be ``n`` long.

    Parameters
    ----------
    angles : str, Path or array_like
    n : int, optional
        The number of projections they are for.

    Returns
    -------
    numpy.ndarray of float, degrees

    Examples
    --------
    >>> a = parse_angles("-65:65:1")
    >>> a.size, float(a[0]), float(a[-1])
    (131, -65.0, 65.0)
    >>> parse_angles("-60:60:30", n=4)
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: --angles '-60:60:30' gives 5 angles but the stack has 4 projections
    """
    label = str(angles)
    if isinstance(angles, (str, Path)) and not Path(str(angles)).is_file():
        text = str(angles).strip().removesuffix("deg").removesuffix("°")
        parts = text.split(":")
        try:
            lo, hi, step = (float(v) for v in parts) if len(parts) == 3 else (None, None, None)
        except ValueError:
            lo = None
        if lo is None:
            raise LithmapError(f"--angles {label!r} is neither LO:HI:STEP in degrees (e.g. -65:65:1) nor a file of "
                               "angles")
        if not (np.isfinite([lo, hi, step]).all() and step > 0 and hi > lo):
            raise LithmapError(f"--angles {label!r}: need LO < HI and a step > 0 (degrees)")
        k = int(np.floor((hi - lo) / step + 1e-9))
        a = lo + step * np.arange(k + 1)
    elif isinstance(angles, (str, Path)):
        rows = []
        for line in Path(angles).read_text(errors="replace").splitlines():
            line = line.split("#")[0].strip().replace(",", " ")
            if line:
                try:
                    rows.extend(float(v) for v in line.split())
                except ValueError:
                    raise LithmapError(f"angle file {label!r}: {line[:40]!r} is not a number of degrees") from None
        a = np.asarray(rows, float)
    else:
        a = np.asarray(angles, float).ravel()
    if n is not None and a.size != n:
        raise LithmapError(f"--angles {label!r} gives {a.size} angles but the stack has {n} projections")
    return a


def _read_netcdf(p: Path) -> xr.DataArray | None:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with xr.open_dataset(p, engine="h5netcdf", phony_dims="access") as ds:
                if "projections" in ds.variables and "angle" in ds["projections"].dims:
                    return ds["projections"].load()
    except Exception:  # noqa: BLE001 - not NetCDF: read as plain HDF5
        return None
    return None


def _read_hdf5(p: Path) -> xr.DataArray:
    import h5py

    src = f"tilt series {str(p)!r}"
    try:
        with h5py.File(p, "r") as f:
            if "projections" not in f:
                raise LithmapError(f"{src} has no dataset 'projections' (top level: {', '.join(f.keys())})")
            a = f["projections"][()]
            ang = f["angle"][()] if "angle" in f else f["projections"].attrs.get("angle")
            e = f["energy"][()] if "energy" in f else None
    except LithmapError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py raises many types on damaged files
        raise LithmapError(f"{src} is not a readable NetCDF/HDF5 file ({type(exc).__name__})") from None
    if a.ndim not in (3, 4):
        raise LithmapError(f"{src}: 'projections' has shape {a.shape}; expected (angle, y, x) or (energy, angle, y, x)")
    dims = ("angle", "y", "x") if a.ndim == 3 else ("energy", "angle", "y", "x")
    coords = {}
    if ang is not None:
        coords["angle"] = ("angle", np.asarray(ang, float).ravel(), {"units": "degree"})
    if e is not None:
        coords["energy"] = ("energy", np.asarray(e, float).ravel(), {"units": "eV"})
    try:
        return xr.DataArray(a, dims=dims, coords=coords)
    except ValueError:
        raise LithmapError(f"{src}: the 'angle' (or 'energy') list does not match 'projections' {a.shape}") from None


def read_projections(path, *, angles=None, pixel_size=None) -> xr.DataArray:
    """Read a tilt series: NetCDF/HDF5 ``projections`` with ``angle`` (degrees), or a TIFF stack.

    Parameters
    ----------
    path : str or Path
        NetCDF/HDF5 file with a variable (dataset) ``projections`` on (angle, y, x) or
        (energy, angle, y, x), an ``angle`` coordinate (dataset) in degrees and, for a spectral
        series, ``energy`` in eV; or a TIFF stack, one projection per page.
    angles : str, Path or array_like, optional
        Tilt angles (see :func:`parse_angles`); needed for a TIFF stack, and replacing the
        file's own otherwise.
    pixel_size : float or str, optional
        Detector pixel edge in m (``"10nm"``); needed for a TIFF stack that does not record it.

    Returns
    -------
    xarray.DataArray
        ``projections`` (…, angle, y, x) with ``angle`` in degrees and ``x``/``y`` in m when
        the pixel size is known.

    Raises
    ------
    LithmapError
        A missing or unreadable file, no angles, angles that do not match the stack, a TIFF
        without a pixel size.

    Examples
    --------
    >>> import pathlib, tempfile, tifffile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> tifffile.imwrite(d / "tilt.tif", np.ones((5, 4, 6), np.float32), photometric="minisblack")
    >>> p = read_projections(d / "tilt.tif", angles="-60:60:30", pixel_size="10nm")
    >>> p.dims, p["angle"].values.tolist(), float(p["x"][1])
    (('angle', 'y', 'x'), [-60.0, -30.0, 0.0, 30.0, 60.0], 1e-08)
    """
    from ..io.images import read_image

    p = Path(str(path)).expanduser()
    if not p.is_file():
        raise LithmapError(f"tilt series {str(path)!r} does not exist")
    with p.open("rb") as fh:
        head = fh.read(8)
    px = optional_quantity(pixel_size, "m", name="pixel_size", positive=True)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        img = read_image(p)
        if img.ndim != 3:
            raise LithmapError(f"TIFF {str(p)!r} holds a single projection; a reconstruction needs at least two angles")
        if angles is None:
            raise LithmapError(f"TIFF stack {str(p)!r} has no tilt angles; give --angles LO:HI:STEP or a file")
        px = px or img.attrs.get("pixel_size")
        if not px:
            raise LithmapError(f"TIFF stack {str(p)!r} does not record its pixel size; give --pixel-size (e.g. 10nm)")
        da = xr.DataArray(np.asarray(img.values), dims=("angle", "y", "x"))
    elif head[:4] == b"\x89HDF" or head[:3] == b"CDF":
        da = _read_netcdf(p)
        if da is None:
            da = _read_hdf5(p)
        if set(da.dims) - {"energy", "angle", "y", "x"} or not {"angle", "y", "x"} <= set(da.dims):
            raise LithmapError(f"tilt series {str(p)!r}: 'projections' has dims {da.dims}; expected (angle, y, x) or "
                               "(energy, angle, y, x)")
        if px is None:
            px = da.attrs.get("pixel_size") or (
                float(da["x"][1] - da["x"][0]) if "x" in da.coords and da["x"].attrs.get("units") == "m"
                and da.sizes["x"] > 1 else None)
    else:
        raise LithmapError(f"tilt series {str(p)!r} is not a NetCDF/HDF5 file or a TIFF stack")
    n = da.sizes["angle"]
    if angles is not None:
        da = da.assign_coords(angle=("angle", parse_angles(angles, n), {"units": "degree"}))
    elif "angle" not in da.coords:
        raise LithmapError(f"tilt series {str(p)!r} has no 'angle' coordinate; give --angles")
    if px:
        for d in ("y", "x"):
            da = da.assign_coords({d: (d, np.arange(da.sizes[d]) * float(px), {"units": "m"})})
        da.attrs["pixel_size"] = float(px)
    da.name = "projections"
    da.attrs["source"] = str(p)
    return da
