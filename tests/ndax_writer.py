"""Write a Neware .ndax (data.ndc v5, type 1) with chosen records, for tests and the benchmark.

Header, page framing and the archive's XML files are copied from the real ``test.ndax``
(tests/data/cycler, MIT, navani); only the measurement fields are replaced. The file is read
back by both lithmap and NewareNDA, so it checks the reader against an independent one.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

TEMPLATE = Path(__file__).parent / "data" / "cycler" / "test.ndax"
PAGE, HEAD, SKIP, TAIL, REC = 4096, 4096, 125, 56, 87
PER_PAGE = (PAGE - SKIP - TAIL) // REC


def write_ndax(path, time_s, voltage_v, current_ma, step_index, *, start="2024-02-01T20:24:23"):
    """Records at ``time_s`` (s from ``start``, the step timer restarting at each step change)."""
    with zipfile.ZipFile(TEMPLATE) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    raw = files["data.ndc"]
    n = len(time_s)
    page0 = np.frombuffer(raw, np.uint8, PAGE, HEAD)
    template = page0[SKIP:SKIP + REC].copy()
    assert template[7] == 0x55
    rec = np.tile(template, (n, 1))
    step = np.asarray(step_index, np.int64)
    starts = np.flatnonzero(np.r_[True, np.diff(step) != 0])
    run = np.cumsum(np.r_[True, np.diff(step) != 0]) - 1
    t = np.asarray(time_s, float)
    step_ms = np.round((t - t[starts][run]) * 1000).astype("<u8")
    current = np.asarray(current_ma, float)
    rng = np.full(n, 10, "<i4")  # range code 10: 1e-3 mA per count
    clock = np.datetime64(start, "s") + np.floor(t).astype("timedelta64[s]")
    ymd = clock.astype("datetime64[D]")
    year = ymd.astype("datetime64[Y]").astype(int) + 1970
    month = ymd.astype("datetime64[M]").astype(int) % 12 + 1
    day = (ymd - ymd.astype("datetime64[M]")).astype(int) + 1
    sod = (clock - ymd).astype(int)

    def put(offset, values, dtype):
        rec[:, offset:offset + np.dtype(dtype).itemsize] = np.asarray(values).astype(dtype)[:, None].view(np.uint8)

    put(8, np.arange(1, n + 1), "<u4")
    put(12, np.zeros(n), "<u4")
    put(16, step, "u1")
    put(17, np.where(current > 0, 1, np.where(current < 0, 2, 4)), "u1")
    put(23, step_ms, "<u8")
    put(31, np.round(np.asarray(voltage_v) * 1e4), "<i4")
    put(35, np.round(current / 1e-3), "<i4")
    put(43, np.zeros(n), "<i8")
    put(51, np.zeros(n), "<i8")
    put(75, year, "<u2")
    put(77, month, "u1")
    put(78, day, "u1")
    put(79, sod // 3600, "u1")
    put(80, sod // 60 % 60, "u1")
    put(81, sod % 60, "u1")
    put(82, rng, "<i4")
    n_pages = -(-n // PER_PAGE)
    pages = np.tile(page0, (n_pages, 1))
    body = np.zeros((n_pages * PER_PAGE, REC), np.uint8)  # marker 0 = no record
    body[:n] = rec
    pages[:, SKIP:SKIP + PER_PAGE * REC] = body.reshape(n_pages, PER_PAGE * REC)
    files["data.ndc"] = raw[:HEAD] + pages.tobytes()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return Path(path)
