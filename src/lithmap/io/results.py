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
    """Fail early (before any work) when ``path`` exists and ``overwrite`` is False."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise LithmapError(f"output {str(p)!r} already exists; pass --overwrite to replace it")
    if not p.parent.exists():
        raise LithmapError(f"output folder {str(p.parent)!r} does not exist")
    return p


def write_result(ds: xr.Dataset, path, *, overwrite: bool = False) -> Path:
    """Write ``ds`` to ``path`` (NetCDF; Zarr when the name ends in ``.zarr``) via a temporary
    file or folder beside it, so a failed write leaves nothing behind and an existing result is
    replaced only when ``overwrite``."""
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
    """Open a lithmap result file (loaded into memory)."""
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
