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
