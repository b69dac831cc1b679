"""Results as NetCDF (h5netcdf) or Zarr (a ``.zarr`` folder, for large movies): written
atomically, never over an existing file unless asked. Dask-backed variables stream to disk
chunk by chunk."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError


def _clean_attrs(attrs: dict) -> dict:
    out = {}
    for k, v in attrs.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = int(v)
        elif isinstance(v, (list, tuple)):
            v = np.asarray(v)
        out[k] = v
    return out


def _default_mode(path) -> None:
    """Give a temporary file (created 0600) the permissions a new file would get (umask)."""
    umask = os.umask(0)
    os.umask(umask)
    mode = (0o777 if os.path.isdir(path) else 0o666) & ~umask
    os.chmod(path, mode)


def check_output_path(path, *, overwrite: bool = False) -> Path:
    """Fail early (before any work) when ``path`` exists and ``overwrite`` is False, or when its
    folder does not exist.

    >>> check_output_path("no/such/folder/run.nc")
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: output folder 'no/such/folder' does not exist
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise LithmapError(f"output {str(p)!r} already exists; pass --overwrite to replace it")
    if not p.parent.exists():
        raise LithmapError(f"output folder {str(p.parent)!r} does not exist")
    return p


def write_result(ds: xr.Dataset, path, *, overwrite: bool = False) -> Path:
    """Write a result Dataset to NetCDF, or to Zarr when the name ends in ``.zarr``.

    The file is written to a temporary name beside ``path`` and moved into place, so a failed
    write leaves nothing behind, and an existing result is replaced only when ``overwrite``.
    Dask-backed variables stream to disk chunk by chunk. Booleans in attrs become 0/1 and
    ``None`` attrs are dropped (NetCDF cannot store them).

    Parameters
    ----------
    ds : xarray.Dataset
        The result (any lithmap function's output).
    path : str or Path
        ``run.nc`` (NetCDF via h5netcdf) or ``movie.zarr`` (a Zarr v2 store, a folder).
    overwrite : bool
        Replace an existing file or store.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    LithmapError
        ``path`` exists and ``overwrite`` is False, or its folder does not exist.

    Examples
    --------
    >>> import tempfile, xarray as xr
    >>> ds = xr.Dataset({"theta": ("time", [0.97, 0.9])}, coords={"time": ("time", [0.0, 60.0], {"units": "s"})})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_result(ds, f"{d}/run.nc")
    ...     float(read_result(p).theta[-1])
    0.9
    """
    p = check_output_path(path, overwrite=overwrite)
    ds = ds.copy()
    ds.attrs = _clean_attrs(ds.attrs)
    for v in ds.variables.values():
        v.attrs = _clean_attrs(v.attrs)
    zarr = p.suffix.lower() == ".zarr"
    if p.exists() and p.is_dir() != zarr:
        raise LithmapError(f"output {str(p)!r} exists as a {'folder' if p.is_dir() else 'file'}; "
                           f"a {'Zarr store is a folder' if zarr else 'NetCDF result is a file'}: choose another name")
    if zarr:
        tmp = tempfile.mkdtemp(suffix=".zarr.tmp", dir=p.parent)
    else:
        fd, tmp = tempfile.mkstemp(suffix=".nc.tmp", dir=p.parent)
        os.close(fd)
    old = None
    try:
        if zarr:
            ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)  # readable by every Zarr library
            if p.exists():  # keep the old store until the new one is in place
                old = tempfile.mkdtemp(suffix=".zarr.old", dir=p.parent)
                os.replace(p, os.path.join(old, "store"))
        else:
            ds.to_netcdf(tmp, engine="h5netcdf")
        _default_mode(tmp)
        os.replace(tmp, p)
    except BaseException:
        if old is not None and not p.exists():
            os.replace(os.path.join(old, "store"), p)
        raise
    finally:
        for leftover in (tmp, old):
            if leftover is not None and os.path.isdir(leftover):
                shutil.rmtree(leftover)
            elif leftover is not None and os.path.exists(leftover):
                os.remove(leftover)
    return p


def read_result(path) -> xr.Dataset:
    """Read a lithmap result (NetCDF file or Zarr store) into memory.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`write_result` (or any NetCDF-4 / Zarr dataset).

    Returns
    -------
    xarray.Dataset
        Loaded into memory (the file is closed again).

    Raises
    ------
    LithmapError
        The file does not exist or is not readable NetCDF/Zarr (the message names it).

    Examples
    --------
    >>> read_result("no/such/run.nc")
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: result file 'no/such/run.nc' does not exist
    """
    p = Path(path)
    if not p.exists():
        raise LithmapError(f"result file {str(p)!r} does not exist")
    if p.suffix.lower() == ".zarr":
        try:
            return xr.open_zarr(p).load()
        except Exception as exc:
            raise LithmapError(f"result {str(p)!r} is not a readable Zarr store ({exc})") from exc
    try:
        with xr.open_dataset(p, engine="h5netcdf") as ds:
            return ds.load()
    except Exception as exc:
        raise LithmapError(f"result file {str(p)!r} is not a readable NetCDF file ({exc})") from exc
