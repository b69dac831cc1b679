"""Cycler records → one normalised table (xarray Dataset on dim ``record``).

Variables: ``time`` (s from the first record; attr ``start_time`` keeps the absolute origin
so a movie can be synchronised later), ``voltage`` (V), ``current`` (A, positive = charge =
delithiation of the cathode), ``step`` and ``cycle`` (integers; cycle from the file when it
has one), ``capacity`` (mAh, ∫current dt from the start, so it rises on charge).

Formats: BioLogic ``.mpr`` (galvani, incl. EC-Lab data-module v3) and ``.mpt``/``.txt``
exports; Neware ``.ndax``/``.nda`` (NewareNDA); Arbin CSV exports; any CSV with a column
mapping (``columns={"time": ..., "voltage": ..., "current": ...}``, current in A).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from .tables import read_columns


def _dataset(time, voltage, current, step, cycle, *, source, fmt, start_time="", capacity=None):
    t = np.asarray(time, float)
    if t.size == 0:
        raise LithmapError(f"cycler file {source!r} has no records")
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
            "time": ("record", t - t[0], {"units": "s", "start_time": str(start_time)}),
            "voltage": ("record", np.asarray(voltage, float), {"units": "V"}),
            "current": ("record", i, {"units": "A", "long_name": "current, + = charge (delithiation)"}),
            "step": ("record", np.asarray(step, np.int64)),
            "cycle": ("record", np.asarray(cycle, np.int64)),
            "capacity": ("record", q, {"units": "mA h", "long_name": "integral of current from the start"}),
        },
        attrs={"source": source, "format": fmt, "current_convention": "positive = charge (delithiation)"},
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
            n_header = int(line.split(":")[1])
    header = lines[n_header - 1].rstrip("\n").split("\t")
    rows = [ln.rstrip("\n").split("\t") for ln in lines[n_header:] if ln.strip()]
    arr = np.array([[float(x.replace(",", ".")) if x else np.nan for x in r[: len(header)]] for r in rows])
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


def _read_csv(path, columns):
    fields, rows = read_columns(path, (), what="CSV file")
    arbin = {"Test_Time", "Current", "Voltage", "Cycle_Index", "Step_Index"}
    if columns is None and arbin <= set(fields):
        get = lambda c: np.array([float(r[c]) for r in rows])  # noqa: E731
        return _dataset(get("Test_Time"), get("Voltage"), get("Current"), get("Step_Index"),
                        get("Cycle_Index") + 1, source=str(path), fmt="Arbin CSV")
    columns = columns or {"time": "Time [s]", "voltage": "Voltage [V]", "current": "Current [A]"}
    missing = [c for c in columns.values() if c not in fields]
    if missing:
        raise LithmapError(f"CSV file {str(path)!r} lacks column(s) {missing}; found {fields}; give a column mapping")
    try:
        get = lambda k: np.array([float(r[columns[k]]) for r in rows])  # noqa: E731
        t, v, i = get("time"), get("voltage"), get("current")
    except ValueError as exc:
        raise LithmapError(f"CSV file {str(path)!r} has a non-numeric value ({exc})") from None
    step = get("step") if "step" in columns else np.zeros(t.size)
    cyc = get("cycle") if "cycle" in columns else _cycles_from_current(i)
    return _dataset(t, v, i, step, cyc, source=str(path), fmt="CSV")


def read_cycler(path, *, columns: dict | None = None, mass_mg: float | None = None) -> xr.Dataset:
    """Read a cycler file into the normalised table (see module docstring); with ``mass_mg``
    (active mass) also ``specific_capacity`` in mAh/g."""
    if mass_mg is not None and not (np.isfinite(mass_mg) and mass_mg > 0):
        raise LithmapError(f"mass={mass_mg!r} mg is invalid; expected a positive active mass")
    ds = _read_any(path, columns)
    if mass_mg is not None:
        ds["specific_capacity"] = ("record", ds.capacity.values / (mass_mg * 1e-3), {"units": "mA h / g"})
        ds.attrs["mass_mg"] = float(mass_mg)
    return ds


def _read_any(path, columns):
    p = Path(path)
    if not p.is_file():
        raise LithmapError(f"cycler file {str(p)!r} does not exist")
    ext = p.suffix.lower()
    try:
        if ext == ".mpr":
            return _read_mpr(p)
        if ext in (".mpt", ".txt"):
            return _read_biologic_text(p)
        if ext in (".ndax", ".nda"):
            return _read_neware(p)
        if ext == ".csv":
            return _read_csv(p, columns)
    except LithmapError:
        raise
    except Exception as exc:
        raise LithmapError(f"cycler file {str(p)!r} could not be read as {ext} ({type(exc).__name__}: {exc})") from exc
    raise LithmapError(f"cycler file {str(p)!r} has an unknown format {ext!r}; expected .mpr, .mpt, .txt, .ndax, .nda or .csv")
