"""Small CSV tables with named columns (GITT pulses, D(θ) tables, plain cycler exports)."""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import LithmapError


def read_columns(path, required, *, what: str = "CSV file") -> tuple[list[str], list[dict]]:
    """Rows of a CSV as dicts, after checking the file exists and has the ``required`` columns.

    Errors name the file (as ``what``), the missing columns and those found.
    """
    p = Path(path)
    if not p.is_file():
        raise LithmapError(f"{what} {str(p)!r} does not exist")
    with p.open(newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        missing = [c for c in required if c not in fields]
        if missing:
            raise LithmapError(f"{what} {str(p)!r} lacks column(s) {missing}; found {fields}")
        return fields, list(reader)


def write_table(path, header, rows) -> Path:
    """Write a CSV atomically (temporary file in the same folder, then rename): a failed write
    leaves nothing behind. ``rows`` are sequences of str or numbers (floats as %.10g)."""
    import os
    import tempfile

    from .results import _default_mode

    p = Path(path)
    fd, tmp = tempfile.mkstemp(suffix=".csv.tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            for row in rows:
                w.writerow([v if isinstance(v, str) else f"{float(v):.10g}" for v in row])
        _default_mode(tmp)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return p
