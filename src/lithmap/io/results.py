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
    tmp = tempfile.mkdtemp(suffix=".zarr.tmp", dir=p.parent) if zarr else None
    if not zarr:
        fd, tmp = tempfile.mkstemp(suffix=".nc.tmp", dir=p.parent)
        os.close(fd)
    try:
        if zarr:
            ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)  # readable by every Zarr library
            if p.exists():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            os.replace(tmp, p)
        else:
            ds.to_netcdf(tmp, engine="h5netcdf")
            os.replace(tmp, p)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
        elif os.path.exists(tmp):
            os.remove(tmp)
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
