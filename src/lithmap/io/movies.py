"""Movies (time, y, x): TIFF / OME-TIFF, folders of frames, HDF5 and TDMS, with frame times.

:func:`read_movie` is the reader: any of the formats below becomes one labelled
:class:`xarray.DataArray` on dims ``(time, y, x)`` with ``time`` in s and ``y``, ``x`` in m
(``units`` attrs; ``"pixel"`` when no pixel size is known), and what the file records in its
attrs:

===================  ======================================================================
``source``           the path (or pattern, or ``file.h5:/dataset``) as given
``format``           ``tiff``, ``ome-tiff``, ``imagej-tiff``, ``frames``, ``hdf5`` or ``tdms``
``frame_interval``   time between frames, s (when the file records it)
``start_time``       absolute start of the recording, ISO 8601 text (when recorded)
``pixel_size``       pixel size along x, m (when known)
``dataset``          dataset path (HDF5); ``group``: group name (TDMS)
===================  ======================================================================

Sources
-------
* **TIFF / OME-TIFF / ImageJ TIFF** (the first series): frame interval and pixel size from lithmap's
  own shaped metadata (``frame_interval_s``, ``pixel_size_m``, optional ``times_s``,
  ``start_time``), from OME-XML (``TimeIncrement``, ``Plane/@DeltaT``, ``PhysicalSizeX`` with
  their units, ``AcquisitionDate``) or from ImageJ (``finterval``, ``XResolution`` + ``unit``).
  Size-1 axes are dropped; one further axis besides (y, x) is the frame axis.
* **A folder of frames** (``.tif``/``.tiff``/``.png``, one grey-scale image per file) or a
  **glob pattern** (``"run1/frame_*.png"``): files in natural order (``frame_2`` before
  ``frame_10``); all frames must share shape and dtype.
* **HDF5**: ``file.h5:/group/dataset``, or ``file.h5`` when it holds exactly one 3D dataset.
  ``frame_interval_s``, ``pixel_size_m``, ``start_time`` and ``times_s`` are looked up as attrs on
  the dataset, then its parent groups; per-frame times also come from a dimension scale on the
  first axis or a sibling 1D dataset ``time``/``times``/``time_s``/``timestamps`` of one value per
  frame (unit from its ``units`` attr, default s).
* **LabVIEW TDMS** (nptdms): the group ``frames`` (or the file's only group) with properties
  ``width`` and ``height`` (pixels; looked up on the first frame channel, then the group, then
  the file) and optionally ``frame_interval_s``, ``pixel_size_m``, ``start_time``. Its channels
  hold the frames either as one channel per frame (``width*height`` values each, in file order)
  or as a single channel of ``n*width*height`` values (frame after frame). Each frame is flattened
  row by row: value ``k`` is pixel ``(y, x) = (k // width, k % width)``. An optional channel
  ``time_s`` (one value per frame) gives the frame times.

Frame times come from the first of: the ``times`` argument (an interval, one time per frame, or a
CSV of time stamps), the times the file records, the interval the file records.

Lazy reading (``lazy=True``) gives a Dask-backed DataArray whose chunks hold up to 64 frames (and
about 64 MiB at most) and reads nothing but headers up front: uncompressed contiguous TIFFs are
memory-mapped; other TIFFs, HDF5 datasets and TDMS channels are read chunk by chunk through one
open file handle kept by the array (under a lock); frame folders read their files chunk by chunk.
Damaged files (truncated data, a broken page chain, missing bytes) are detected up front.
NaN and saturated pixels are counted (and masked) by the contrast pipeline itself
(``bad_pixels`` of :func:`lithmap.contrast_movie`).
"""

from __future__ import annotations

import csv
import glob as _glob
import logging
import math
import re
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np

from ..errors import LithmapError
from .units import optional_quantity, parse_quantity, unit_scale

__all__ = ["read_movie"]

_FRAME_SUFFIXES = (".tif", ".tiff", ".png")
_MAX_CHUNK_FRAMES = 64
_CHUNK_BYTES = 64 * 2**20
_TIMES_SUFFIXES = (".csv", ".txt", ".tsv")


# ---------------------------------------------------------------------------------------------
# public API


def read_movie(path, times=None, pixel_size=None, lazy: bool = False, *, chunk_frames: int | None = None):
    """Read an operando movie as a labelled DataArray (time, y, x).

    Parameters
    ----------
    path : str or Path
        A TIFF/OME-TIFF/ImageJ TIFF, HDF5 (``file.h5`` or ``file.h5:/path/to/dataset``) or TDMS
        file, a folder of TIFF/PNG frames, a glob pattern of frame files (see the module
        docstring), or ``"example"`` for the synthetic movie shipped with lithmap.
    times : float, str, array_like or Path, optional
        The frame times, when the file's own are missing or wrong: a frame interval (``10`` in s,
        or ``"10 s"``, ``"2min"``), one time per frame (s, strictly increasing), or a CSV file of
        time stamps (a ``time``/``time_s``/``timestamp`` column, numbers in s or the header's
        unit, or ISO 8601 date-times). Default: the times, else the interval, the file records.
    pixel_size : float or str, optional
        Pixel size (``50e-9`` in m, or ``"50 nm"``) when the file does not record it. Without
        either, ``y`` and ``x`` are pixel indices (``units`` attr ``"pixel"``).
    lazy : bool
        Return a Dask-backed DataArray chunked by frames instead of reading the data now.
    chunk_frames : int, optional
        Frames per Dask chunk (default: up to 64 frames and about 64 MiB).

    Returns
    -------
    xarray.DataArray
        The frames as stored (raw counts), dims ``(time, y, x)``, coordinates ``time`` (s),
        ``y``, ``x`` (m, or pixels), attrs ``source``, ``format`` and, when known,
        ``frame_interval`` (s), ``start_time``, ``pixel_size`` (m), ``dataset``/``group``.

    Raises
    ------
    LithmapError
        Missing, unreadable, truncated or unsupported input, a single image, or frame times
        that are missing, of the wrong count or not increasing (the message names the file).

    Examples
    --------
    >>> import lithmap
    >>> movie = read_movie(lithmap.example_file("example_movie.tif"))
    >>> movie.dims, movie.shape
    (('time', 'y', 'x'), (31, 80, 80))
    >>> float(movie.time[1]), movie.time.attrs["units"], float(movie.x[1])
    (120.0, 's', 5e-08)
    >>> read_movie("example", times="1 min", lazy=True).chunks[0]
    (31,)
    """
    import xarray as xr

    if isinstance(path, str) and path == "example":
        from ..datasets import example_file

        path = str(example_file("example_movie.tif"))
    stack, meta = _open_stack(path, lazy=lazy, chunk_frames=chunk_frames)
    t, start = _frame_times(meta, stack.shape[0], times)
    px = optional_quantity(pixel_size, "m", name="pixel_size", positive=True)
    if px is None:
        px = meta.get("pixel_size_m")
    coords = {"time": ("time", t, {"units": "s"})}
    for d, n in zip(("y", "x"), stack.shape[1:]):
        coords[d] = (d, np.arange(n) * float(px), {"units": "m"}) if px else \
            (d, np.arange(n, dtype=float), {"units": "pixel"})
    attrs = {"long_name": "frames (raw counts)", "units": "counts", "source": meta["source"], "format": meta["format"]}
    for key, name in (("frame_interval_s", "frame_interval"), ("dataset", "dataset"), ("group", "group")):
        if key in meta:
            attrs[name] = meta[key]
    if start or meta.get("start_time"):
        attrs["start_time"] = start or meta["start_time"]
    if px:
        attrs["pixel_size"] = float(px)
    if meta.get("synthetic"):
        attrs["synthetic"] = 1
    return xr.DataArray(stack, dims=("time", "y", "x"), coords=coords, attrs=attrs, name="frames")


def _open_stack(path, *, lazy: bool = False, require_stack: bool = True,
                chunk_frames: int | None = None) -> tuple[np.ndarray, dict]:
    """``(stack, meta)``: an image stack (time, y, x) and what its file records about it.

    ``stack`` is a numpy array, or with ``lazy`` a Dask array chunked by frames; a single image
    (y, x) is refused unless ``require_stack`` is False. ``meta`` holds ``source``, ``format`` and,
    when the file records them, ``frame_interval_s``, ``times_s``, ``start_time``,
    ``pixel_size_m``; ``files``/``dataset``/``group`` by format. Raises LithmapError naming the
    file for missing, unreadable, truncated or unsupported input.

    >>> import lithmap
    >>> stack, meta = _open_stack(lithmap.example_file("example_movie.tif"))
    >>> stack.shape, meta["format"], meta["frame_interval_s"]
    ((31, 80, 80), 'tiff', 120.0)
    """
    if chunk_frames is not None and (not isinstance(chunk_frames, (int, np.integer)) or chunk_frames < 1):
        raise LithmapError(f"chunk_frames={chunk_frames!r} is invalid; expected a positive whole number of frames")
    src = _open_source(path)
    if src.ndim == 2 and require_stack:
        src.close()
        raise LithmapError(f"movie {src.label!r} is a single image (y, x); a movie needs frames (time, y, x)")
    if lazy:
        return src.to_dask(chunk_frames), src.meta
    try:
        return src.read_all(), src.meta
    finally:
        src.close()


def _natural_key(text) -> tuple:
    """Sort key that orders the numbers inside names by value: ``frame_2`` before ``frame_10``.

    >>> sorted(["f10.png", "f2.png", "f1.png"], key=_natural_key)
    ['f1.png', 'f2.png', 'f10.png']
    """
    parts = re.split(r"(\d+)", str(text))
    return tuple((0, int(p), p) if i % 2 else (1, p.lower(), p) for i, p in enumerate(parts))


def _read_times_csv(csv_path) -> tuple[np.ndarray, dict]:
    """Per-frame times (s) from a CSV of time stamps, and ``{'start_time': ISO}`` for date-times.

    The column is the first one named ``time``, ``times``, ``time_s``, ``timestamp`` or ``t``
    (a unit may follow: ``time_ms``, ``time (min)``; default s); a file with one column and no
    header is read as that column. Numbers are seconds (or the header's unit) and are kept as
    given; ISO 8601 date-times become seconds since the first, whose date-time is returned as
    ``start_time``. Times must strictly increase.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "frames.csv"
    ...     _ = p.write_text("frame,timestamp\\n0,2024-05-01T10:00:00\\n1,2024-05-01T10:00:30.5\\n")
    ...     _read_times_csv(p)
    (array([ 0. , 30.5]), {'start_time': '2024-05-01T10:00:00'})
    """
    p = Path(csv_path).expanduser()
    what = f"times file {str(p)!r}"
    if not p.is_file():
        raise LithmapError(f"{what} does not exist")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LithmapError(f"{what} is not a readable text file ({type(exc).__name__})") from None
    lines = [(n, s) for n, s in enumerate(text.splitlines(), 1) if s.strip() and not s.lstrip().startswith("#")]
    if not lines:
        raise LithmapError(f"{what} is empty; expected a column of frame times")
    delim = next((d for d in ",;\t" if d in lines[0][1]), ",")
    rows = [(n, [c.strip() for c in next(csv.reader([s], delimiter=delim))]) for n, s in lines]
    header = rows[0][1]
    col, factor = None, 1.0
    for j, name in enumerate(header):
        m = _TIME_HEADER.match(name.strip().lower())
        if m:
            col = j
            factor = unit_scale(m.group(2), "s", default="s")
            break
    if col is None:
        if len(header) == 1 and (_float(header[0]) is not None or _iso(header[0]) is not None):
            col = 0
        else:
            raise LithmapError(f"{what} has no time column (time, time_s or timestamp); found {header}")
    else:
        rows = rows[1:]
    if not rows:
        raise LithmapError(f"{what} has a header but no times")
    cells = []
    for n, row in rows:
        if col >= len(row) or not row[col]:
            raise LithmapError(f"{what} line {n} has no time in column {col + 1}")
        cells.append((n, row[col]))
    extra: dict = {}
    if _float(cells[0][1]) is not None:  # numbers (the first value decides)
        times = np.empty(len(cells))
        for k, (n, c) in enumerate(cells):
            v = _float(c)
            if v is None or not math.isfinite(v):
                raise LithmapError(f"{what} line {n}: {c!r} is not a finite time in seconds")
            times[k] = v * factor
    else:
        stamps = []
        for n, c in cells:
            d = _iso(c)
            if d is None:
                raise LithmapError(f"{what} line {n}: {c!r} is not a time in seconds or an ISO date-time")
            stamps.append(d)
        try:
            times = np.array([(d - stamps[0]).total_seconds() for d in stamps])
        except TypeError:
            raise LithmapError(f"{what} mixes date-times with and without a time zone") from None
        extra["start_time"] = stamps[0].isoformat()
    k = _first_non_increasing(times)
    if k is not None:
        raise LithmapError(f"{what} is not increasing: time {k} (line {cells[k][0]}) = {times[k]:g} s "
                           f"does not exceed time {k - 1} = {times[k - 1]:g} s")
    return times, extra


def _frame_times(meta: dict, n_frames: int, times=None) -> tuple[np.ndarray, str | None]:
    """Per-frame times (s) of a movie and the start date-time a CSV of date-times gives (else None).

    ``times`` comes first: a CSV of time stamps (a Path, or a string naming an existing file or
    ending in .csv/.txt/.tsv; :func:`_read_times_csv`), a frame interval (a number in s or a
    quantity string: times ``0, dt, 2 dt, ...``) or one time per frame (s). Without it, the times
    the file records (``meta['times_s']``), then its interval (``meta['frame_interval_s']``,
    times from 0). Checks that there is one finite time per frame and that they strictly increase.

    >>> _frame_times({"frame_interval_s": 10.0}, 3)
    (array([ 0., 10., 20.]), None)
    >>> _frame_times({"frame_interval_s": 10.0}, 3, "2 s")[0]
    array([0., 2., 4.])
    >>> _frame_times({}, 3, [0, 1.5, 4])[0]
    array([0. , 1.5, 4. ])
    """
    source = meta.get("source", "the movie")
    start = None
    if times is None:
        if meta.get("times_s") is not None:
            t, what = np.asarray(meta["times_s"], dtype=float).ravel(), f"the frame times of movie {source!r}"
        elif _positive(meta.get("frame_interval_s")) is not None:
            t, what = np.arange(n_frames) * float(meta["frame_interval_s"]), f"movie {source!r}"
        else:
            raise LithmapError(f"movie {source!r} records no frame times; give a frame interval "
                               f"(times=10 or --times 10s) or a CSV of frame times")
    elif isinstance(times, Path) or (isinstance(times, str) and (
            Path(times).expanduser().is_file() or times.strip().lower().endswith(_TIMES_SUFFIXES))):
        t, extra = _read_times_csv(times)
        start = extra.get("start_time")
        what = f"times file {str(times)!r}"
    elif isinstance(times, (str, int, float, np.number)) and not isinstance(times, bool):
        try:
            dt = parse_quantity(times, "s", name="times")
        except LithmapError:
            raise LithmapError(f"times={times!r} is invalid; expected a frame interval such as '10 s', "
                               f"one time per frame, or a CSV file of frame times") from None
        if not dt > 0:
            raise LithmapError(f"times={times!r} is invalid; expected a positive frame interval in s")
        t, what = np.arange(n_frames) * dt, f"times={times!r}"
    else:
        try:
            t = np.asarray(times, dtype=float)
        except (TypeError, ValueError):
            raise LithmapError(f"times is invalid; expected a frame interval, one time per frame (s) "
                               f"or a CSV file of frame times, not {type(times).__name__}") from None
        if t.ndim != 1:
            raise LithmapError(f"times has shape {t.shape}; expected one time per frame")
        what = "times"
    if len(t) != n_frames:
        raise LithmapError(f"{what} gives {len(t)} times for {n_frames} frames")
    if not np.all(np.isfinite(t)):
        raise LithmapError(f"{what}: time {int(np.flatnonzero(~np.isfinite(t))[0])} is not finite")
    k = _first_non_increasing(t)
    if k is not None:
        raise LithmapError(f"{what} is not increasing: time {k} = {t[k]:g} s does not exceed "
                           f"time {k - 1} = {t[k - 1]:g} s")
    return np.asarray(t, dtype=float), start


# ---------------------------------------------------------------------------------------------
# small helpers

_TIME_HEADER = re.compile(r"^(time|times|timestamp|timestamps|t)(?:[ _]*[(\[]?\s*(s|ms|us|µs|min|h)\s*[)\]]?)?$")


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _iso(text):
    try:
        return datetime.fromisoformat(str(text).strip())
    except ValueError:
        return None


def _positive(value):
    """``value`` as a float when it is one positive finite number (also a 1-element array), else None."""
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    if a.size != 1:
        return None
    v = float(a.reshape(()))
    return v if math.isfinite(v) and v > 0 else None


def _first_non_increasing(times):
    d = np.diff(np.asarray(times, dtype=float))
    bad = np.flatnonzero(~(d > 0))
    return int(bad[0]) + 1 if bad.size else None


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.reshape(()).item())
    return str(value)


def _set_meta(meta: dict, *, interval=None, pixel=None, times=None, start=None, n_frames=None):
    """Store the recorded values that make sense (positive interval/pixel, one time per frame)."""
    if _positive(interval) is not None:
        meta["frame_interval_s"] = _positive(interval)
    if _positive(pixel) is not None:
        meta["pixel_size_m"] = _positive(pixel)
    if times is not None:
        t = np.asarray(times, dtype=float).ravel()
        if t.size and (n_frames is None or t.size == n_frames):
            meta["times_s"] = t
    if start is not None and _text(start).strip():
        meta["start_time"] = _text(start).strip()


# tifffile and nptdms report damage through logging (and nptdms prints it): capture those records
# in the reading thread, drop them from the console, and turn the fatal ones into one-line errors.
_tls = threading.local()


class _CaptureFilter(logging.Filter):
    def filter(self, record):
        records = getattr(_tls, "records", None)
        if records is None:
            return True
        records.append(record)
        return False


_FILTER = _CaptureFilter()


def _install_filter(names):
    for name in names:
        log = logging.getLogger(name)
        if _FILTER not in log.filters:
            log.addFilter(_FILTER)


@contextmanager
def _captured():
    outer = getattr(_tls, "records", None)
    _tls.records = records = []
    try:
        yield records
    finally:
        _tls.records = outer


# ---------------------------------------------------------------------------------------------
# frame sources: shape, dtype, meta and read(i0, i1); dask reads them through __getitem__


class _Frames:
    """A source of frames. Holds at most one open file handle (opened on first read, shared by
    the threads of a dask computation under a lock, dropped when pickled)."""

    def __init__(self, label: str, shape, dtype, meta: dict):
        self.label = label
        self.shape = tuple(int(s) for s in shape)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(dtype).newbyteorder("=")
        self.meta = meta
        self._lock = threading.Lock()
        self._handle = None

    # subclasses: _open() -> handle, _read(handle, i0, i1) -> array of frames i0:i1 (or the image)
    def _open(self):
        return None

    def _read(self, handle, i0, i1):  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self):
        with self._lock:
            h, self._handle = self._handle, None
        if h is not None and hasattr(h, "close"):
            h.close()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lock"] = None
        state["_handle"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def read(self, i0: int, i1: int) -> np.ndarray:
        want = self.shape if self.ndim == 2 else (i1 - i0,) + self.shape[1:]
        with self._lock, _captured():
            try:
                if self._handle is None:
                    self._handle = self._open()
                out = self._read(self._handle, i0, i1)
            except LithmapError:
                raise
            except Exception as exc:  # noqa: BLE001 - readers raise many unrelated types
                where = "" if self.ndim == 2 else f" (frames {i0}..{i1 - 1})"
                raise LithmapError(f"movie {self.label!r} could not be read{where}: "
                                   f"{type(exc).__name__}: {_first_line(exc)}") from None
        out = np.asarray(out)
        if out.size != int(np.prod(want)):
            raise LithmapError(f"movie {self.label!r} is truncated: frames {i0}..{i1 - 1} hold "
                               f"{out.size} values, expected {int(np.prod(want))}")
        return out.reshape(want).astype(self.dtype, copy=False)

    def read_all(self) -> np.ndarray:
        return self.read(0, self.shape[0] if self.ndim == 3 else 1)

    def __getitem__(self, key):
        if self.ndim == 2:
            return self.read(0, 1)[key]
        key = key if isinstance(key, tuple) else (key,)
        first, rest = (key[0] if key else slice(None)), key[1:]
        if isinstance(first, slice):
            i0, i1, step = first.indices(self.shape[0])
            if step == 1:
                if i1 <= i0:
                    return np.empty((0,) + self.shape[1:], self.dtype)[(slice(None),) + rest]
                return self.read(i0, i1)[(slice(None),) + rest]
        idx = np.arange(self.shape[0])[first]
        if np.size(idx) == 0:
            return np.empty((0,) + self.shape[1:], self.dtype)[(slice(None),) + rest]
        lo, hi = int(np.min(idx)), int(np.max(idx)) + 1
        return self.read(lo, hi)[(np.asarray(idx) - lo,) + rest]

    def _chunks(self, chunk_frames):
        if self.ndim == 2:
            return self.shape
        frame_bytes = max(1, int(np.prod(self.shape[1:])) * self.dtype.itemsize)
        k = chunk_frames or max(1, min(_MAX_CHUNK_FRAMES, _CHUNK_BYTES // frame_bytes))
        return (min(int(k), max(1, self.shape[0])),) + self.shape[1:]

    def _token(self):
        return self.label

    def to_dask(self, chunk_frames=None):
        import dask.array as da
        from dask.base import tokenize

        chunks = self._chunks(chunk_frames)
        name = "lithmap-read-" + tokenize(type(self).__name__, self._token(), chunks, str(self.dtype))
        return da.from_array(self, chunks=chunks, name=name, lock=False,
                             meta=np.empty((0,) * self.ndim, dtype=self.dtype))


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


def _file_token(p: Path):
    st = p.stat()
    return (str(p.resolve()), st.st_size, st.st_mtime_ns)


def _frame_axis_shape(label, axes: str, shape) -> tuple[tuple, str]:
    """Drop size-1 axes except y, x; return ((t,) y, x) and the frame axis name ('' for 2D)."""
    kept = [(a, s) for a, s in zip(axes, shape) if s != 1 or a in "YX"]
    axes2 = "".join(a for a, _ in kept)
    shape2 = tuple(s for _, s in kept)
    desc = f"axes {axes2} of shape {shape2}"
    for a, s in kept:
        if a == "S":
            raise LithmapError(f"movie {label!r} is a colour image ({s} samples per pixel, {desc}); "
                               f"lithmap reads grey-scale frames")
        if a == "C":
            raise LithmapError(f"movie {label!r} has {s} channels ({desc}); lithmap reads one channel "
                               f"(time, y, x)")
    if axes2[-2:] != "YX" or len(axes2) > 3:
        raise LithmapError(f"movie {label!r} has {desc}; expected frames (time, y, x)")
    return shape2, (axes2[0] if len(axes2) == 3 else "")


# -- TIFF ---------------------------------------------------------------------------------------


class _TiffFrames(_Frames):
    def __init__(self, path: Path, label, shape, dtype, meta, *, n_pages, contiguous):
        super().__init__(label, shape, dtype, meta)
        self.path = path
        self.n_pages = n_pages
        self.contiguous = contiguous
        self.use_memmap = False

    def _open(self):
        import tifffile

        if self.use_memmap:  # uncompressed and contiguous: map the file, copy the frames asked for
            try:
                mm = tifffile.memmap(self.path, series=0, mode="r")
            except Exception:  # noqa: BLE001 - not mappable after all: read pages
                mm = None
            if mm is not None and mm.size == int(np.prod(self.shape)):
                return mm.reshape(self.shape)
        return tifffile.TiffFile(self.path)

    def _read(self, handle, i0, i1):
        if isinstance(handle, np.ndarray):
            return np.array(handle if self.ndim == 2 else handle[i0:i1])
        series = handle.series[0]
        if i0 == 0 and i1 == (self.shape[0] if self.ndim == 3 else 1):
            return series.asarray()
        return series.asarray(key=slice(i0, i1))

    def close(self):
        with self._lock:
            h, self._handle = self._handle, None
        if h is not None and not isinstance(h, np.ndarray):
            h.close()

    def _token(self):
        return _file_token(self.path)

    def to_dask(self, chunk_frames=None):
        self.use_memmap = self.contiguous
        if not self.contiguous and self.ndim == 3 and self.n_pages != self.shape[0]:
            raise LithmapError(f"movie {self.label!r} stores {self.n_pages} TIFF pages for {self.shape[0]} "
                               f"frames and cannot be read lazily; read it without lazy")
        return super().to_dask(chunk_frames)


_TIFF_DAMAGE = re.compile(r"invalid (page|value) offset (\d+)")


def _open_tiff(p: Path, label: str) -> _TiffFrames:
    import tifffile

    _install_filter(["tifffile"])
    size = p.stat().st_size

    def check(records):
        for rec in records:
            m = _TIFF_DAMAGE.search(rec.getMessage())
            if m and (m.group(1) == "page" or int(m.group(2)) >= 8):  # a tag value past the end of file
                raise LithmapError(f"movie {label!r} is truncated or corrupt (tifffile: {m.group(0)}; "
                                   f"the file has {size} bytes)")

    with _captured() as records:
        try:
            with tifffile.TiffFile(p) as tf:
                len(tf.pages)  # walks the whole page chain: a broken chain is logged
                series_list = tf.series
                check(records)
                if not series_list:
                    raise LithmapError(f"movie {label!r} is a TIFF file without images")
                series = series_list[0]
                if series.kind == "generic" and len(series_list) > 1 and series_list[1].kind == "generic":
                    raise LithmapError(f"movie {label!r} has TIFF pages of different shapes ({series.shape} "
                                       f"then {series_list[1].shape}); a movie needs frames of one shape")
                pages = list(series.pages)
                contiguous = series.dataoffset is not None
                if contiguous:
                    end = series.dataoffset + series.nbytes
                elif any(pg is None for pg in pages):
                    raise LithmapError(f"movie {label!r} is truncated or corrupt: TIFF pages are missing")
                else:
                    end = max((o + c for pg in pages for o, c in zip(pg.dataoffsets, pg.databytecounts)), default=0)
                meta = _tiff_meta(tf, label)
                check(records)
                axes, sshape, dtype = series.axes, tuple(series.shape), series.dtype
        except LithmapError:
            raise
        except Exception as exc:  # noqa: BLE001 - readers raise many unrelated types
            raise LithmapError(f"movie {label!r} is not a readable TIFF stack "
                               f"({type(exc).__name__}: {_first_line(exc)})") from None
    if end > size:
        raise LithmapError(f"movie {label!r} is truncated: its image data end at byte {end} but the "
                           f"file has {size} bytes")
    shape, frame_axis = _frame_axis_shape(label, axes, sshape)
    ome_axis = meta.pop("_ome_axis", None)
    if "times_s" in meta and (not frame_axis or len(meta["times_s"]) != shape[0]
                              or (ome_axis and ome_axis != frame_axis)):
        del meta["times_s"]
    return _TiffFrames(p, label, shape, dtype, meta, n_pages=len(pages), contiguous=contiguous)


def _tiff_meta(tf, label) -> dict:
    meta: dict = {"source": label, "format": "tiff"}
    shaped = tf.shaped_metadata[0] if tf.shaped_metadata else {}
    if tf.is_ome and tf.ome_metadata:
        meta["format"] = "ome-tiff"
        _ome_meta(tf.ome_metadata, meta, label)
    elif tf.is_imagej and tf.imagej_metadata:
        meta["format"] = "imagej-tiff"
        ij = tf.imagej_metadata
        scale = unit_scale(ij.get("tunit"), "s", default="s")
        interval = _positive(ij.get("finterval"))
        if interval and scale:
            _set_meta(meta, interval=interval * scale)
        scale = unit_scale(ij.get("unit"), "m", default="pixel")
        res = tf.pages[0].tags.get("XResolution")
        if scale and res is not None and res.value[0]:
            _set_meta(meta, pixel=res.value[1] / res.value[0] * scale)
    _set_meta(meta, interval=shaped.get("frame_interval_s"), pixel=shaped.get("pixel_size_m"),
              times=shaped.get("times_s"), start=shaped.get("start_time"))
    if str(shaped.get("synthetic", "")).strip().lower() in ("1", "true", "yes"):
        meta["synthetic"] = 1  # a movie made by lithmap.synthetic_movie says so in its own metadata
    return meta


def _ome_meta(xml: str, meta: dict, label: str) -> None:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    image = root.find(f"{ns}Image")
    if image is None:
        return
    pixels = image.find(f"{ns}Pixels")
    date = image.find(f"{ns}AcquisitionDate")
    start = date.text if date is not None and date.text else None
    if pixels is None:
        _set_meta(meta, start=start)
        return
    a = pixels.attrib
    px, px_unit = _float(a.get("PhysicalSizeX")), unit_scale(a.get("PhysicalSizeXUnit"), "m", default="µm")
    px = px * px_unit if px is not None and px_unit else None
    dt, dt_unit = _float(a.get("TimeIncrement")), unit_scale(a.get("TimeIncrementUnit"), "s", default="s")
    dt = dt * dt_unit if dt is not None and dt_unit else None
    sizes = {k: int(a.get(f"Size{k}", 1)) for k in "TZC"}
    axis = "T" if sizes["T"] > 1 or sizes["Z"] == 1 else "Z"  # the frame axis once size-1 axes go
    times = {}
    for plane in pixels.findall(f"{ns}Plane"):
        pa = plane.attrib
        idx = {k: int(pa.get(f"The{k}", 0)) for k in "TZC"}
        if idx["C"] or any(idx[k] for k in "TZ" if k != axis) or "DeltaT" not in pa:
            continue
        v, unit = _float(pa["DeltaT"]), unit_scale(pa.get("DeltaTUnit"), "s", default="s")
        if v is not None and unit:
            times[idx[axis]] = v * unit
    n = sizes[axis]
    series = [times[k] for k in range(n)] if n > 1 and all(k in times for k in range(n)) else None
    _set_meta(meta, interval=dt, pixel=px, times=series, start=start)
    meta["_ome_axis"] = axis


# -- folders and patterns of frame files --------------------------------------------------------


class _FileFrames(_Frames):
    def __init__(self, files, label, shape, dtype, meta):
        super().__init__(label, shape, dtype, meta)
        self.files = files

    def _read(self, handle, i0, i1):
        out = np.empty((i1 - i0,) + self.shape[1:], self.dtype)
        for k, f in enumerate(self.files[i0:i1]):
            img = _read_image_file(f)
            if img.shape != self.shape[1:]:
                raise LithmapError(f"frame file {str(f)!r} has shape {img.shape}, unlike the first frame's "
                                   f"{self.shape[1:]}")
            out[k] = img
        return out

    def _token(self):
        return [_file_token(f) for f in self.files]


class _PngImage(_Frames):
    def __init__(self, path, label, shape, dtype, meta):
        super().__init__(label, shape, dtype, meta)
        self.path = path

    def _read(self, handle, i0, i1):
        return _read_image_file(self.path, what=f"image {str(self.path)!r}")

    def _token(self):
        return _file_token(self.path)


_PNG_MODES = {"L": np.uint8, "1": np.bool_, "I;16": np.uint16, "I;16B": np.uint16, "I;16L": np.uint16,
              "I;16N": np.uint16, "I": np.int32, "F": np.float32}


def _image_header(f: Path, what: str | None = None) -> tuple[tuple, np.dtype, dict]:
    """Shape, dtype and (TIFF) metadata of one frame file, reading its header only."""
    what = what or f"frame file {str(f)!r}"
    if f.suffix.lower() == ".png":
        from PIL import Image

        try:
            with Image.open(f) as im:
                mode, (w, h) = im.mode, im.size
        except Exception as exc:  # noqa: BLE001 - readers raise many unrelated types
            raise LithmapError(f"{what} is not a readable PNG image "
                               f"({type(exc).__name__}: {_first_line(exc)})") from None
        if mode not in _PNG_MODES:
            raise LithmapError(f"{what} is a colour or palette image (mode {mode}); frames must be grey-scale")
        return (h, w), np.dtype(_PNG_MODES[mode]), {}
    src = _open_tiff(f, str(f))
    if src.ndim != 2:
        raise LithmapError(f"{what} holds {src.shape[0]} images; a folder of frames needs one image per file")
    return src.shape, src.dtype, src.meta


def _read_image_file(f: Path, what: str | None = None) -> np.ndarray:
    what = what or f"frame file {str(f)!r}"
    try:
        if f.suffix.lower() == ".png":
            from PIL import Image

            with Image.open(f) as im:
                return np.asarray(im)
        import tifffile

        _install_filter(["tifffile"])
        with _captured():
            return tifffile.imread(f)
    except Exception as exc:  # noqa: BLE001 - readers raise many unrelated types
        raise LithmapError(f"{what} could not be read ({type(exc).__name__}: {_first_line(exc)})") from None


def _open_files(files: list[Path], label: str, fmt_meta: dict) -> _FileFrames:
    shape, dtype, first_meta = _image_header(files[0])
    for f in files[1:]:
        s, d, _ = _image_header(f)
        if s != shape or d != dtype:
            raise LithmapError(f"frame file {str(f)!r} is {d} of shape {s}, unlike the first frame "
                               f"{str(files[0])!r} ({dtype} of shape {shape}); all frames must match")
    meta = {"source": label, "format": "frames", "files": [str(f) for f in files], **fmt_meta}
    _set_meta(meta, pixel=first_meta.get("pixel_size_m"))
    return _FileFrames(files, label, (len(files),) + tuple(shape), dtype, meta)


def _frame_files_in(folder: Path) -> list[Path]:
    files = [f for f in folder.iterdir()
             if f.is_file() and f.suffix.lower() in _FRAME_SUFFIXES and not f.name.startswith(".")]
    return sorted(files, key=lambda f: _natural_key(f.name))


# -- HDF5 ---------------------------------------------------------------------------------------


class _H5Frames(_Frames):
    def __init__(self, path: Path, dataset: str, label, shape, dtype, meta):
        super().__init__(label, shape, dtype, meta)
        self.path, self.dataset = path, dataset

    def _open(self):
        import h5py

        return h5py.File(self.path, "r")

    def _read(self, f, i0, i1):
        d = f[self.dataset]
        return d[()] if self.ndim == 2 else d[i0:i1]

    def _token(self):
        return (_file_token(self.path), self.dataset)


_H5_TIME_NAMES = ("time", "times", "time_s", "timestamps")


def _h5_attr(obj, key):
    """``key`` from the attrs of ``obj`` or, failing that, of its parent groups."""
    while True:
        if key in obj.attrs:
            return obj.attrs[key]
        if obj.name in ("/", None):
            return None
        obj = obj.parent


def _h5_times(d, n):
    import h5py

    def as_times(ds):
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or ds.shape[0] != n or ds.dtype.kind not in "iuf":
            return None
        unit = unit_scale(_text(ds.attrs.get("units", "s")).split(" since ")[0].strip(), "s", default="s")
        return ds[()].astype(float) * unit if unit else None

    for scale in d.dims[0].values() if d.ndim == 3 else ():
        t = as_times(scale)
        if t is not None:
            return t
    parent = d.parent
    for name in _H5_TIME_NAMES:
        t = as_times(parent.get(name))
        if t is not None:
            return t
    return None


def _open_hdf5(p: Path, dataset: str | None, label: str) -> _H5Frames:
    import h5py

    try:
        f = h5py.File(p, "r")
    except Exception as exc:  # noqa: BLE001 - readers raise many unrelated types
        raise LithmapError(f"movie {label!r} is not a readable HDF5 file ({type(exc).__name__}: "
                           f"{_first_line(exc)})") from None
    try:
        with f:
            images = []

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and obj.ndim in (2, 3) and obj.dtype.kind in "biuf" \
                        and "CLASS" not in obj.attrs:
                    images.append(("/" + name, obj.ndim))

            f.visititems(visit)
            stacks = [n for n, nd in images if nd == 3]
            hint = f"3D datasets: {', '.join(stacks[:5])}" if stacks else "it has no 3D dataset"
            if dataset:
                name = dataset if dataset.startswith("/") else "/" + dataset
                obj = f.get(name)
                if obj is None:
                    raise LithmapError(f"HDF5 file {str(p)!r} has no dataset {name!r} ({hint})")
                if not isinstance(obj, h5py.Dataset):
                    raise LithmapError(f"{name!r} in HDF5 file {str(p)!r} is a group, not a dataset ({hint})")
            else:
                # a result's own `mask` (lithmap reconstruct, composition) rides beside its data
                data = [n for n in stacks if n.rsplit("/", 1)[-1] != "mask"] if len(stacks) > 1 else stacks
                if len(data) == 1:
                    name = data[0]
                elif len(stacks) > 1:
                    raise LithmapError(f"HDF5 file {str(p)!r} has several 3D datasets ({', '.join(stacks[:5])}); "
                                       f"name one as '{p}:{stacks[0]}'")
                elif len(images) == 1:
                    name = images[0][0]
                else:
                    raise LithmapError(f"HDF5 file {str(p)!r} has no 3D dataset (time, y, x); name one as "
                                       f"'{p}:/path/to/dataset'")
                obj = f[name]
            if obj.ndim not in (2, 3) or obj.dtype.kind not in "biuf":
                raise LithmapError(f"dataset {name!r} in HDF5 file {str(p)!r} is {obj.dtype} of shape {obj.shape}; "
                                   f"expected numbers (time, y, x)")
            meta = {"source": label, "format": "hdf5", "dataset": name}
            n = obj.shape[0] if obj.ndim == 3 else None
            times = obj.attrs.get("times_s")
            if times is None and n is not None:
                times = _h5_times(obj, n)
            start = _h5_attr(obj, "start_time")
            _set_meta(meta, interval=_h5_attr(obj, "frame_interval_s"), pixel=_h5_attr(obj, "pixel_size_m"),
                      times=times if n is not None else None, start=_text(start) if start is not None else None,
                      n_frames=n)
            shape, dtype = obj.shape, obj.dtype
    except LithmapError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file fails deep inside h5py
        raise LithmapError(f"movie {label!r} is truncated or corrupt (HDF5: {type(exc).__name__}: "
                           f"{_first_line(exc)})") from None
    return _H5Frames(p, name, label, shape, dtype, meta)


# -- TDMS ---------------------------------------------------------------------------------------


class _TdmsFrames(_Frames):
    def __init__(self, path: Path, group: str, channels: list[str], flat: bool, label, shape, dtype, meta):
        super().__init__(label, shape, dtype, meta)
        self.path, self.group, self.channels, self.flat = path, group, channels, flat

    def _open(self):
        from nptdms import TdmsFile

        return TdmsFile.open(self.path)

    def _read(self, f, i0, i1):
        g = f[self.group]
        if self.ndim == 2:
            i0, i1 = 0, 1
        wh = int(np.prod(self.shape[-2:]))
        if self.flat:
            return g[self.channels[0]].read_data(offset=i0 * wh, length=(i1 - i0) * wh)
        return np.stack([np.asarray(g[c][:]) for c in self.channels[i0:i1]])

    def _token(self):
        return (_file_token(self.path), self.group)


_TDMS_DAMAGE = re.compile(r"less data|not a multiple|end of (the )?file|truncat|incomplete", re.IGNORECASE)


def _tdms_prop(objs, key):
    for obj in objs:
        for k, v in obj.properties.items():
            if k.lower() == key:
                return v
    return None


def _open_tdms(p: Path, label: str) -> _TdmsFrames:
    from nptdms import TdmsFile
    from nptdms.log import log_manager

    _install_filter(list(log_manager.loggers) + ["nptdms"])
    with _captured() as records:
        try:
            f = TdmsFile.read_metadata(p)
        except Exception as exc:  # noqa: BLE001 - readers raise many unrelated types
            raise LithmapError(f"movie {label!r} is not a readable TDMS file ({type(exc).__name__}: "
                               f"{_first_line(exc)})") from None
    damage = [r.getMessage() for r in records if r.levelno >= logging.WARNING and _TDMS_DAMAGE.search(r.getMessage())]
    if damage:
        raise LithmapError(f"movie {label!r} is truncated or corrupt (nptdms: {damage[0]})")
    groups = f.groups()
    names = [g.name for g in groups]
    if "frames" in names:
        g = f["frames"]
    elif len(groups) == 1:
        g = groups[0]
    else:
        raise LithmapError(f"TDMS file {label!r} has no group 'frames' (groups: {names})")
    chans = [c for c in g.channels() if c.name != "time_s"]
    if not chans:
        raise LithmapError(f"TDMS group {g.name!r} in {label!r} has no frame channels")
    objs = [chans[0], g, f]
    width, height = _tdms_prop(objs, "width"), _tdms_prop(objs, "height")
    try:
        w, h = int(width), int(height)
        assert w > 0 and h > 0 and float(width) == w and float(height) == h
    except (TypeError, ValueError, AssertionError):
        raise LithmapError(f"TDMS group {g.name!r} in {label!r} needs positive whole 'width' and 'height' "
                           f"properties (pixels); found width={width!r}, height={height!r}") from None
    wh = w * h
    dtypes = {np.dtype(c.dtype) for c in chans}
    if len(dtypes) > 1 or next(iter(dtypes)).kind not in "biuf":
        raise LithmapError(f"TDMS group {g.name!r} in {label!r} has frame channels of types "
                           f"{sorted(map(str, dtypes))}; expected one numeric type")
    if len(chans) == 1:
        n_values = len(chans[0])
        if n_values == 0 or n_values % wh:
            raise LithmapError(f"TDMS channel {g.name}/{chans[0].name} in {label!r} holds {n_values} values, "
                               f"not a whole number of {h}x{w} frames")
        n, flat = n_values // wh, True
    else:
        for c in chans:
            if len(c) != wh:
                raise LithmapError(f"TDMS channel {g.name}/{c.name} in {label!r} holds {len(c)} values; "
                                   f"a {h}x{w} frame needs {wh}")
        n, flat = len(chans), False
    meta = {"source": label, "format": "tdms", "group": g.name}
    times = None
    if "time_s" in [c.name for c in g.channels()]:
        with _captured(), TdmsFile.open(p) as handle:
            times = np.asarray(handle[g.name]["time_s"][:])
    start = _tdms_prop([g, f], "start_time")
    _set_meta(meta, interval=_tdms_prop([g, f], "frame_interval_s"), pixel=_tdms_prop([g, f], "pixel_size_m"),
              times=times, start=_text(start) if start is not None else None, n_frames=n)
    return _TdmsFrames(p, g.name, [c.name for c in chans], flat, label, (n, h, w), next(iter(dtypes)), meta)


# -- dispatch -----------------------------------------------------------------------------------

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _split_dataset(spec: str) -> tuple[Path, str | None]:
    """``file.h5:/dataset`` -> (file, '/dataset'); a path that exists as given is a file."""
    if Path(spec).expanduser().exists():
        return Path(spec).expanduser(), None
    for i, ch in enumerate(spec):
        if ch == ":" and i > 1 and Path(spec[:i]).expanduser().is_file():
            return Path(spec[:i]).expanduser(), spec[i + 1:]
    m = re.match(r"^(.+?\.(?:h5|hdf5|hdf|he5|nxs|nc)):(.*)$", spec, re.IGNORECASE)
    if m:
        return Path(m.group(1)).expanduser(), m.group(2)
    return Path(spec).expanduser(), None


def _open_source(path) -> _Frames:
    spec = str(path)
    label = spec
    if not spec.strip():
        raise LithmapError("movie '' is invalid; expected a file, folder or glob pattern")
    p, dataset = _split_dataset(spec)
    if not p.exists() and any(ch in spec for ch in "*?["):
        files = sorted((Path(f) for f in _glob.glob(str(Path(spec).expanduser())) if Path(f).is_file()),
                       key=_natural_key)
        if not files:
            raise LithmapError(f"pattern {spec!r} matches no frame files")
        return _open_files(files, label, {})
    if not p.exists():
        raise LithmapError(f"movie {str(p)!r} does not exist")
    if p.is_dir():
        if dataset is not None:
            raise LithmapError(f"movie {label!r}: {str(p)!r} is a folder, not an HDF5 file")
        files = _frame_files_in(p)
        if not files:
            raise LithmapError(f"folder {str(p)!r} has no TIFF or PNG frames")
        return _open_files(files, label, {})
    try:
        with p.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise LithmapError(f"movie {label!r} cannot be opened ({type(exc).__name__}: {_first_line(exc)})") from None
    if not head:
        raise LithmapError(f"movie {label!r} is an empty file")
    is_hdf5 = head == b"\x89HDF\r\n\x1a\n"
    if not is_hdf5 and head[:4] not in _TIFF_MAGIC and head[:4] not in (b"\x89PNG", b"TDSm"):
        import h5py  # HDF5 files may start after a user block

        is_hdf5 = h5py.is_hdf5(p)
    if dataset is not None and not is_hdf5:
        raise LithmapError(f"movie {label!r}: {str(p)!r} is not an HDF5 file (only HDF5 takes ':/dataset')")
    if is_hdf5:
        return _open_hdf5(p, dataset, label)
    if head[:4] in _TIFF_MAGIC:
        return _open_tiff(p, label)
    if head[:4] == b"TDSm":
        return _open_tdms(p, label)
    if head[:4] == b"\x89PNG":
        shape, dtype, _ = _image_header(p, what=f"image {label!r}")
        return _PngImage(p, label, shape, dtype, {"source": label, "format": "png"})
    raise LithmapError(f"movie {label!r} is not a TIFF, PNG, HDF5 or TDMS file (it starts with {head[:4]!r})")
