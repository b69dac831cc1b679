"""Results as NetCDF (h5netcdf): written atomically, never over an existing file unless asked."""

from __future__ import annotations

import os
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
    """Write ``ds`` to NetCDF at ``path`` via a temporary file in the same folder, so a failed
    write leaves nothing behind and an existing file is replaced only when ``overwrite``."""
    p = check_output_path(path, overwrite=overwrite)
    ds = ds.copy()
    ds.attrs = _clean_attrs(ds.attrs)
    for v in ds.variables.values():
        v.attrs = _clean_attrs(v.attrs)
    fd, tmp = tempfile.mkstemp(suffix=".nc.tmp", dir=p.parent)
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return p


def read_result(path) -> xr.Dataset:
    """Open a lithmap result file (loaded into memory)."""
    p = Path(path)
    if not p.is_file():
        raise LithmapError(f"result file {str(p)!r} does not exist")
    try:
        with xr.open_dataset(p, engine="h5netcdf") as ds:
            return ds.load()
    except Exception as exc:
        raise LithmapError(f"result file {str(p)!r} is not a readable NetCDF file ({exc})") from exc
