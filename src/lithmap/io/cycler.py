"""Cycler records → one labelled table (xarray Dataset on dim ``record``).

Variables: ``time`` (s from the first record; attr ``start_time`` keeps the absolute clock
origin so a movie can be synchronised later, and the Dataset attr ``time_offset`` the file's own
time of the first record), ``voltage`` (V), ``current`` (A, positive = charge = delithiation of
the cathode), ``step`` and ``cycle`` (integers; cycle from the file when it has one),
``capacity`` (mA h, ∫current dt from the start, so it rises on charge) and, with a mass,
``specific_capacity`` (mA h / g).

Formats: BioLogic ``.mpr`` (galvani, incl. EC-Lab data-module v3) and ``.mpt``/``.txt``
exports; Neware ``.ndax``/``.nda`` (NewareNDA); Arbin CSV exports; any CSV with a column
mapping (``columns={"time": ..., "voltage": ..., "current": ...}``, current in A); and a list
of CSV files (GITT or PITT pulses, one or more each), joined by time into one record.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from .tables import read_columns
from .units import UNIT_SPELLING, optional_quantity


def _dataset(time, voltage, current, step, cycle, *, source, fmt, start_time="", capacity=None):
    t = np.asarray(time, float)
    if t.size == 0:
        raise LithmapError(f"cycler file {source!r} has no records")
    if not np.all(np.isfinite(t)):
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise LithmapError(f"cycler file {source!r}: record {i + 1} has no valid time ({t[i]!r})")
    if np.any(np.diff(t) < 0):
        i = int(np.flatnonzero(np.diff(t) < 0)[0])
        raise LithmapError(f"cycler file {source!r}: time goes backwards at record {i + 1} ({t[i + 1]!r} s)")
    i = np.asarray(current, float)
    if capacity is None:  # mAh, trapezoidal ∫ I dt
        q = np.concatenate([[0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t))]) / 3.6
    else:  # the file's own charge counter (exact)
        q = np.asarray(capacity, float) - float(capacity[0])
    _check_sign(t, np.asarray(voltage, float), i, source)
    ds = xr.Dataset(
        {
            "time": ("record", t - t[0], {"units": UNIT_SPELLING["time"], "start_time": str(start_time)}),
            "voltage": ("record", np.asarray(voltage, float), {"units": UNIT_SPELLING["voltage"]}),
            "current": ("record", i, {"units": UNIT_SPELLING["current"],
                                      "long_name": "current, + = charge (delithiation)"}),
            "step": ("record", np.asarray(step, np.int64), {"long_name": "protocol step index of the file"}),
            "cycle": ("record", np.asarray(cycle, np.int64), {"long_name": "cycle number (1-based)"}),
            "capacity": ("record", q, {"units": UNIT_SPELLING["capacity"],
                                       "long_name": "integral of current from the start"}),
        },
        attrs={"source": source, "format": fmt, "current_convention": "positive = charge (delithiation)",
               "time_offset": float(t[0])},
    )
    return ds


def _check_sign(t, v, i, source):
    """Charging a cathode raises its voltage. If, over the records that pass current, the voltage
    mostly moves against the current's sign, the file's sign convention is the opposite one."""
    if i.size < 10 or not np.any(i != 0):
        return
    thr = 0.05 * np.max(np.abs(i))
    dv = np.diff(v)
    live = (np.abs(i[1:]) > thr) & (np.abs(i[:-1]) > thr) & (np.sign(i[1:]) == np.sign(i[:-1])) & (dv != 0)
    if live.sum() < 10:
        return
    agree = np.mean(np.sign(dv[live]) == np.sign(i[1:][live]))
    if agree < 0.2:
        raise LithmapError(
            f"cycler file {source!r}: the current sign is opposite to lithmap's convention (+ = charge, the "
            f"voltage rises); the voltage moved against the current in {100 * (1 - agree):.0f} % of records; "
            "negate the current column"
        )


def _cycles_from_current(current):
    """A new cycle starts at each charge that follows a discharge (1-based)."""
    i = np.asarray(current, float)
    thr = 1e-3 * np.nanmax(np.abs(i)) if np.any(i != 0) else np.inf
    sign = np.where(i > thr, 1, np.where(i < -thr, -1, 0))
    live = np.flatnonzero(sign)
    s = sign[live]
    new = np.zeros(i.size, np.int64)
    new[live[1:][(s[1:] > 0) & (s[:-1] < 0)]] = 1
    return 1 + np.cumsum(new)


def _read_mpr(path):
    from galvani import BioLogic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = BioLogic.MPRfile(str(path))
    d = m.data
    names = d.dtype.names
    t = d["time/s"]
    v = d["Ewe/V"] if "Ewe/V" in names else d["Ecell/V"]
    if "I/mA" in names:
        i = d["I/mA"] / 1000.0
    elif "dq/mA.h" in names:  # GCPL files log the charge per point, not the current
        dt = np.diff(t, prepend=t[0])
        i = np.where(dt > 0, d["dq/mA.h"] * 3.6 / np.where(dt > 0, dt, 1.0), 0.0)
    else:
        i = np.zeros(t.size)
    step = d["Ns"] if "Ns" in names else np.zeros(t.size)
    cyc = d["cycle number"] if "cycle number" in names else _cycles_from_current(i)
    q = np.cumsum(d["dq/mA.h"]) if "dq/mA.h" in names else None
    return _dataset(t, v, i, step, np.asarray(cyc) + (1 if "cycle number" in names else 0), source=str(path),
                    fmt="BioLogic mpr", start_time=getattr(m, "timestamp", ""), capacity=q)


def _read_biologic_text(path):
    with open(path, encoding="latin-1") as fh:
        lines = fh.readlines()
    n_header = 1
    for line in lines[:5]:
        if line.startswith("Nb header lines"):
            try:
                n_header = int(line.split(":")[1])
            except (IndexError, ValueError):
                raise LithmapError(f"BioLogic file {str(path)!r}: {line.strip()!r} does not give a number of "
                                   "header lines") from None
    if not 1 <= n_header <= len(lines):
        raise LithmapError(f"BioLogic file {str(path)!r} declares {n_header} header lines but has {len(lines)} lines")
    header = lines[n_header - 1].rstrip("\n").split("\t")
    rows = [ln.rstrip("\n").split("\t") for ln in lines[n_header:] if ln.strip()]
    try:
        arr = np.array([[float(x.replace(",", ".")) if x else np.nan for x in r[: len(header)]] for r in rows])
    except ValueError as exc:  # a non-numeric value, or a row shorter than the header
        raise LithmapError(f"BioLogic file {str(path)!r} has a bad record after its {n_header} header lines "
                           f"({' '.join(str(exc).split())[:120]})") from None
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise LithmapError(f"BioLogic file {str(path)!r} has no records after its {n_header} header lines")
    col = {h: k for k, h in enumerate(header)}

    def get(*names, default=None):
        for nm in names:
            if nm in col:
                return arr[:, col[nm]]
        if default is None:
            raise LithmapError(f"BioLogic file {str(path)!r} lacks column(s) {list(names)}")
        return default

    t = get("time/s")
    v = get("Ecell/V", "Ewe/V")
    i = get("I/mA") / 1000.0
    step = get("Ns", default=np.zeros(t.size))
    cyc = get("cycle number", default=np.full(t.size, np.nan))
    cyc = _cycles_from_current(i) if np.isnan(cyc).all() else cyc + 1
    return _dataset(t, v, i, step, cyc, source=str(path), fmt="BioLogic text export")


# Neware BTS ``data.ndc`` version 5, file type 1 (the record file inside most .ndax archives): a
# 4096-byte file header, then 4096-byte pages whose bytes 125..4040 hold 45 records of 87 bytes;
# a record is a measurement when its byte 7 is 0x55. The field offsets are NewareNDA's
# (``_read_ndc_5_filetype_1`` / ``_bytes_to_list_ndc``); lithmap only vectorises the parsing
# (NewareNDA unpacks record by record, ~1e5 records/s). Other layouts go through NewareNDA.
_NDC_HEAD, _NDC_PAGE, _NDC_SKIP, _NDC_TAIL = 4096, 4096, 125, 56
_NDC_RECORD = np.dtype({
    "names": ["marker", "index", "cycle", "step_index", "status", "time_ms", "voltage", "current",
              "year", "month", "day", "hour", "minute", "second", "range"],
    "formats": ["u1", "<u4", "<u4", "u1", "u1", "<u8", "<i4", "<i4", "<u2", "u1", "u1", "u1", "u1", "u1", "<i4"],
    "offsets": [7, 8, 12, 16, 17, 23, 31, 35, 75, 77, 78, 79, 80, 81, 82],
    "itemsize": 87,
})


def ndc_records(raw: bytes) -> np.ndarray | None:
    """Measurement records of a version-5, type-1 ``data.ndc`` as a structured array
    (:data:`_NDC_RECORD`), or None when ``raw`` has another layout."""
    if len(raw) < _NDC_HEAD + _NDC_PAGE or raw[0] != 1 or raw[2] != 5:
        return None
    n_pages = (len(raw) - _NDC_HEAD) // _NDC_PAGE
    pages = np.frombuffer(raw, np.uint8, n_pages * _NDC_PAGE, _NDC_HEAD).reshape(n_pages, _NDC_PAGE)
    rec = np.ascontiguousarray(pages[:, _NDC_SKIP:_NDC_PAGE - _NDC_TAIL]).view(_NDC_RECORD).ravel()
    return rec[rec["marker"] == 0x55]


def _ndc_clock(rec) -> np.ndarray:
    """Each record's wall-clock time stamp (datetime64[s]; the file stores whole seconds)."""
    months = (rec["year"].astype(np.int64) - 1970) * 12 + rec["month"].astype(np.int64) - 1
    secs = ((rec["day"].astype(np.int64) - 1) * 86400 + rec["hour"].astype(np.int64) * 3600
            + rec["minute"].astype(np.int64) * 60 + rec["second"].astype(np.int64))
    return months.astype("datetime64[M]").astype("datetime64[s]") + secs.astype("timedelta64[s]")


def _step_time(clock_s, step_time_s, step):
    """Continuous time (s from the first record's clock stamp): each step run starts at its first record's clock
    stamp (1 s resolution) and advances with the step's own millisecond timer within the run,
    so spacing inside a step is exact and steps stay anchored to the wall clock."""
    starts = np.flatnonzero(np.r_[True, np.diff(step) != 0])
    run = np.cumsum(np.r_[True, np.diff(step) != 0]) - 1
    clock = np.asarray(clock_s, np.int64) - np.int64(clock_s[0])  # exact before going to float
    t = clock[starts][run] + (step_time_s - step_time_s[starts][run])
    return np.maximum.accumulate(t)  # a step's clock stamp can round below the previous end


def _read_neware(path):
    import zipfile

    from NewareNDA.dicts import multiplier_dict

    rec = None
    if Path(path).suffix.lower() == ".ndax":
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "data.ndc" in names and not {"data_runInfo.ndc", "data_step.ndc"} <= names:
                rec = ndc_records(zf.read("data.ndc"))
    if rec is None or rec.size == 0:
        return _read_neware_library(path)
    ranges, inverse = np.unique(rec["range"], return_inverse=True)
    unknown = [int(r) for r in ranges if int(r) not in multiplier_dict]
    if unknown:
        raise LithmapError(f"Neware file {str(path)!r} uses current range code(s) {unknown} unknown to NewareNDA")
    ma_per_count = np.array([multiplier_dict[int(r)] for r in ranges])[inverse]
    clock = _ndc_clock(rec)
    step = rec["step_index"].astype(np.int64)
    t = _step_time(clock.astype(np.int64), rec["time_ms"] / 1000.0, step)
    current = rec["current"] * ma_per_count / 1000.0
    return _dataset(t, rec["voltage"] / 10000.0, current, step, _cycles_from_current(current),
                    source=str(path), fmt="Neware", start_time=str(clock[0]))


def _read_neware_library(path):
    """Every other Neware layout (.nda, split .ndax, other ndc versions), through NewareNDA."""
    import NewareNDA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = NewareNDA.read(str(path))
    clock = df["Timestamp"].values.astype("datetime64[s]")
    step = df["Step_Index"].values.astype(np.int64)
    t = _step_time(clock.astype(np.int64), df["Time"].values.astype(float), step)
    return _dataset(t, df["Voltage"].values, df["Current(mA)"].values / 1000.0, step,
                    df["Cycle"].values, source=str(path), fmt="Neware", start_time=str(clock[0]))


_CSV_DEFAULTS = {"time": "Time [s]", "voltage": "Voltage [V]", "current": "Current [A]"}
_ARBIN = {"time": "Test_Time", "voltage": "Voltage", "current": "Current", "step": "Step_Index", "cycle": "Cycle_Index"}


def _numbers(rows, column, path) -> np.ndarray:
    """One CSV column as floats; a bad value is a one-line error naming the file, row and column."""
    out = np.empty(len(rows))
    for k, r in enumerate(rows):
        text = r.get(column)
        if text is None:
            raise LithmapError(f"CSV file {str(path)!r} row {k + 2} has fewer fields than the header (no {column!r})")
        try:
            out[k] = float(text)
        except ValueError:
            raise LithmapError(
                f"CSV file {str(path)!r} row {k + 2}, column {column!r}: {text!r} is not a number") from None
    return out


def _csv_columns(path, columns):
    """The record's columns of one CSV file: dict of arrays (``time``, ``voltage``, ``current``,
    and ``step``/``cycle`` when the file or the mapping has them) and the format's name."""
    fields, rows = read_columns(path, (), what="CSV file")
    if columns is None and set(_ARBIN.values()) <= set(fields):
        mapping, fmt = _ARBIN, "Arbin CSV"
    else:
        unknown = sorted(set(columns or {}) - {"time", "voltage", "current", "step", "cycle"})
        if unknown:
            raise LithmapError(f"columns={columns!r} is invalid: {unknown} are not record variables; "
                               "map 'time', 'voltage', 'current' (and 'step', 'cycle') to column names")
        mapping, fmt = {**_CSV_DEFAULTS, **(columns or {})}, "CSV"
    missing = [c for c in mapping.values() if c not in fields]
    if missing:
        raise LithmapError(f"CSV file {str(path)!r} lacks column(s) {missing}; found {fields}; give a column mapping")
    if not rows:
        raise LithmapError(f"CSV file {str(path)!r} has no rows")
    data = {k: _numbers(rows, c, path) for k, c in mapping.items()}
    if fmt == "Arbin CSV":
        data["cycle"] = data["cycle"] + 1
    if np.any(np.diff(data["time"]) < 0):
        i = int(np.flatnonzero(np.diff(data["time"]) < 0)[0])
        raise LithmapError(f"CSV file {str(path)!r}: time goes backwards at row {i + 3} ({data['time'][i + 1]!r} s)")
    return data, fmt


def _read_csv(paths, columns):
    """One CSV file, or several joined by time (any order; they must not overlap)."""
    pieces = sorted(((p, *_csv_columns(p, columns)) for p in paths), key=lambda x: x[1]["time"][0])
    for (pa, a, _), (pb, b, _) in zip(pieces, pieces[1:]):
        if b["time"][0] < a["time"][-1]:
            raise LithmapError(f"CSV files {str(pa)!r} and {str(pb)!r} overlap in time; give each pulse once")
    fmt = pieces[0][2]
    if len(pieces) == 1:
        data, source = pieces[0][1], str(pieces[0][0])
    else:
        keys = set.intersection(*(set(d) for _, d, _ in pieces))
        data = {k: np.concatenate([d[k] for _, d, _ in pieces]) for k in keys}
        source = f"{pieces[0][0]} ... {pieces[-1][0]} ({len(pieces)} files)"
        fmt = f"{fmt}, {len(pieces)} files joined by time"
    t, i = data["time"], data["current"]
    step = data["step"] if "step" in data else np.zeros(t.size)
    cyc = data["cycle"] if "cycle" in data else _cycles_from_current(i)
    return _dataset(t, data["voltage"], i, step, cyc, source=source, fmt=fmt)


def read_cycler(path, *, columns: dict | None = None, mass=None) -> xr.Dataset:
    """Read a cycler record (one file, or CSV pulse files joined by time) into a labelled Dataset.

    Parameters
    ----------
    path : str, Path or list of them
        A BioLogic ``.mpr``/``.mpt``/``.txt``, Neware ``.ndax``/``.nda``, Arbin or plain ``.csv``
        file; or a list of CSV files (GITT/PITT pulses, one or more per file, in any order),
        which are joined by time into one record. A list of one file is that file.
    columns : dict, optional
        For CSV files: which column holds ``"time"`` (s), ``"voltage"`` (V), ``"current"`` (A,
        + = charge) and optionally ``"step"`` and ``"cycle"``. Keys not given keep the defaults
        ``"Time [s]"``, ``"Voltage [V]"``, ``"Current [A]"``. Without a mapping, Arbin exports
        are recognised by their column names. Ignored for the other formats.
    mass : float or str, optional
        Active mass, in kg or as a quantity string (``"5mg"``); adds ``specific_capacity``
        (mA h / g) and the attr ``mass`` (kg).

    Returns
    -------
    xarray.Dataset
        On dim ``record``: ``time`` (s from the first record), ``voltage`` (V), ``current``
        (A, + = charge), ``step``, ``cycle`` (1-based), ``capacity`` (mA h) and, with a mass,
        ``specific_capacity`` (mA h / g); each with a ``units`` attr. Attrs: ``source``,
        ``format``, ``time_offset`` (s: the file's own time of the first record).

    Raises
    ------
    LithmapError
        One line naming the file and what is wrong (missing, unknown format, damaged, missing
        columns, time going backwards, current sign opposite to lithmap's convention).

    Examples
    --------
    >>> import lithmap
    >>> rec = lithmap.read_cycler(lithmap.example_file("test.ndax"), mass="5mg")
    >>> rec.sizes["record"], rec.capacity.attrs["units"], rec.specific_capacity.attrs["units"]
    (1464, 'mA h', 'mA h / g')
    >>> pulses = [lithmap.example_file(f"gitt_pulse_{k}.csv") for k in range(1, 7)]
    >>> gitt = lithmap.read_cycler(pulses)
    >>> gitt.attrs["format"], float(gitt.time[0])
    ('CSV, 6 files joined by time', 0.0)
    """
    m = optional_quantity(mass, "kg", name="mass", positive=True)
    ds = _read_any(path, columns)
    if m is not None:
        ds["specific_capacity"] = ("record", ds.capacity.values / (m * 1e3),
                                   {"units": UNIT_SPELLING["specific_capacity"]})
        ds.attrs["mass"] = m
    return ds


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else f"{type(exc).__name__}: damaged or unexpected structure"


def _read_any(path, columns):
    if isinstance(path, (list, tuple)):
        paths = [Path(p) for p in path]
        if not paths:
            raise LithmapError("no cycler file given")
        if len(paths) > 1 and not all(p.suffix.lower() == ".csv" for p in paths):
            raise LithmapError("give either CSV pulse files or one cycler file (.mpr, .mpt, .txt, .ndax, .nda, .csv); "
                               f"got {len(paths)} files with suffixes {sorted({p.suffix for p in paths})}")
    else:
        paths = [Path(path)]
    for p in paths:
        if not p.is_file():
            raise LithmapError(f"cycler file {str(p)!r} does not exist")
    p = paths[0]
    ext = p.suffix.lower()
    try:
        if ext == ".csv":
            return _read_csv(paths, columns)
        if ext == ".mpr":
            return _read_mpr(p)
        if ext in (".mpt", ".txt"):
            return _read_biologic_text(p)
        if ext in (".ndax", ".nda"):
            return _read_neware(p)
    except LithmapError:
        raise
    except Exception as exc:  # galvani, NewareNDA, zipfile and numpy raise many kinds on damaged files
        raise LithmapError(f"cycler file {str(p)!r} could not be read as {ext} ({_one_line(exc)})") from exc
    raise LithmapError(
        f"cycler file {str(p)!r} has an unknown format {ext!r}; expected .mpr, .mpt, .txt, .ndax, .nda or .csv")
