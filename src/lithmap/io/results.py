"""Results as NetCDF (h5netcdf) or Zarr (a ``.zarr`` folder, for large movies): written
atomically, never over an existing file unless asked. Dask-backed variables stream to disk
chunk by chunk.

A damaged result fails in one line. Before xarray opens a NetCDF file, h5py opens it and walks
every group, dataset and attribute (:func:`_hdf5_problem`): a damaged header then fails there, and
h5netcdf never builds a half-made file object whose destructor would print "Exception ignored in
File.close" on stderr at exit. :func:`_quiet_destructors` is the second guard, for damage that only
h5netcdf meets.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
import warnings
from contextlib import contextmanager
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


def _compression(ds: xr.Dataset) -> dict:
    """gzip (level 4) for the large numeric fields of a NetCDF result: maps over time with NaN
    outside the particle shrink several-fold, and readers decompress transparently."""
    enc = {}
    for name, v in ds.data_vars.items():
        if v.ndim >= 2 and v.size >= 100_000 and v.dtype.kind in "fiu" and not v.encoding.get("compression"):
            enc[name] = {"zlib": True, "complevel": 4}
    return enc


def write_result(ds: xr.Dataset, path, *, overwrite: bool = False) -> Path:
    """Write a result Dataset to NetCDF, or to Zarr when the name ends in ``.zarr``.

    The file is written to a temporary name beside ``path`` and moved into place, so a failed
    write leaves nothing behind, and an existing result is replaced only when ``overwrite``.
    Dask-backed variables stream to disk chunk by chunk; large NetCDF fields are gzip-compressed.
    Booleans in attrs become 0/1 and
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
            ds.to_netcdf(tmp, engine="h5netcdf", encoding=_compression(ds))
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _hdf5_problem(path) -> str | None:
    """What is wrong with an HDF5 (NetCDF-4) file, in one line, or None when h5py can open it
    and read every group, dataset header and attribute (the data themselves are not read).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str or None
        ``"<exception type>: <first line of its message>"`` of the first failure, else None.

    Examples
    --------
    >>> import tempfile, pathlib, xarray as xr
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "run.nc"
    ...     xr.Dataset({"theta": ("time", [0.97, 0.9])}).to_netcdf(p, engine="h5netcdf")
    ...     good = _hdf5_problem(p)
    ...     _ = p.write_bytes(p.read_bytes()[:300])
    ...     bad = _hdf5_problem(p)
    >>> good is None, bad.split(":")[0]
    (True, 'OSError')
    """
    import h5py

    def visit(name, obj):
        for key in obj.attrs:
            obj.attrs[key]
        if isinstance(obj, h5py.Dataset):
            _ = (obj.shape, obj.dtype, obj.chunks, obj.compression)
        return None

    try:
        with h5py.File(path, "r") as f:
            for key in f.attrs:
                f.attrs[key]
            f.visititems(visit)
    except Exception as exc:  # noqa: BLE001 - a damaged file fails deep inside h5py with many types
        return _first_line(exc)
    return None


@contextmanager
def _quiet_destructors():
    """Inside this block, errors raised by the destructors of h5py, h5netcdf and xarray objects
    (a reader that failed half-way through opening a damaged file) are dropped instead of being
    printed as "Exception ignored in ..." on stderr; others are reported as usual.

    Examples
    --------
    >>> import sys
    >>> before = sys.unraisablehook
    >>> with _quiet_destructors():
    ...     sys.unraisablehook is before
    False
    >>> sys.unraisablehook is before
    True
    """
    old = sys.unraisablehook

    def hook(unraisable):
        where = getattr(unraisable.object, "__module__", None) or type(unraisable.object).__module__ or ""
        if not str(where).startswith(("h5netcdf", "h5py", "xarray")):
            old(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = old


def _open_netcdf(path, what: str, **kwargs) -> xr.Dataset:
    """Load a NetCDF-4 file (h5netcdf) into memory, or raise one LithmapError line.

    The file is first checked by :func:`_hdf5_problem`; a failure of xarray/h5netcdf after that
    is caught too, and the half-opened reader is destroyed quietly before the error is raised.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What it is, for the message (``"result file 'run.nc'"``).
    **kwargs
        Passed to :func:`xarray.open_dataset` (e.g. ``phony_dims="access"``).

    Returns
    -------
    xarray.Dataset
        Loaded (the file is closed again).

    Raises
    ------
    LithmapError
        ``"<what> is not a readable NetCDF file (<reason>)"``.

    Examples
    --------
    >>> import tempfile, pathlib, xarray as xr
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "run.nc"
    ...     xr.Dataset({"theta": ("time", [0.97, 0.9])}).to_netcdf(p, engine="h5netcdf")
    ...     float(_open_netcdf(p, "result").theta[1])
    0.9
    """
    problem = _hdf5_problem(path)
    if problem is None:
        with _quiet_destructors():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # decoding warnings of a damaged file are not for the user
                    with xr.open_dataset(path, engine="h5netcdf", **kwargs) as ds:
                        return ds.load()
            except Exception as exc:  # noqa: BLE001 - h5netcdf, h5py and xarray raise many types
                problem = _first_line(exc)
            gc.collect()  # the failed reader (no longer referenced by `exc`) goes now, quietly
    raise LithmapError(f"{what} is not a readable NetCDF file ({problem})")


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
        The file does not exist or is not readable NetCDF/Zarr: one line naming it and what
        failed (a damaged file prints nothing else on stderr, not even at exit).

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
        problem = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. "failed to open consolidated metadata"
                return xr.open_zarr(p).load()
        except Exception as exc:  # noqa: BLE001 - zarr and its codecs raise many types
            problem = _first_line(exc)
        raise LithmapError(f"result {str(p)!r} is not a readable Zarr store ({problem})")
    return _open_netcdf(p, f"result file {str(p)!r}")
