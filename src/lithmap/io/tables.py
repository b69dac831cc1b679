"""Small CSV tables with named columns (GITT pulses, D(θ) tables, plain cycler exports)."""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import LithmapError

__all__ = ["read_columns", "write_table"]


def read_columns(path, required=(), *, what: str = "CSV file") -> tuple[list[str], list[dict]]:
    """Rows of a CSV file as dicts, after checking the file exists and has the ``required`` columns.

    A small helper for the CSV tables several rooms read (GITT pulses, calibration and D(θ)
    tables, plain cycler exports): it returns the plain tuple ``(fields, rows)`` — a list of
    column names and a list of dicts of text — not xarray; the callers convert the columns they
    need (and say which row is not a number). A row with more cells than the header keeps the
    extra ones in a list under the key ``None``; a short row has ``None`` for its missing cells
    (:class:`csv.DictReader`'s rules).

    Parameters
    ----------
    path : str or Path
        The CSV file (first line: column names).
    required : sequence of str
        Columns that must be present.
    what : str
        What the file is, for the error messages (``"GITT file"``, ``"diffusivity table"``).

    Returns
    -------
    tuple of (list of str, list of dict)
        ``(fields, rows)``: ``fields`` the column names in file order; ``rows`` one dict per
        data row, column name → text (``str``).

    Raises
    ------
    LithmapError
        One line naming the file (as ``what``) and what is wrong: missing, unreadable, not
        UTF-8 text, not CSV (e.g. NUL bytes), or lacking columns (with the columns found).

    Examples
    --------
    >>> import lithmap
    >>> from lithmap.io.tables import read_columns
    >>> fields, rows = read_columns(lithmap.example_file("gitt_pulse_1.csv"), ["Time [s]", "Current [A]"])
    >>> fields[:3], len(rows), rows[0]["Time [s]"]
    (['Time [s]', 'Voltage [V]', 'Current [A]'], 95, '105749.3767')
    """
    p = Path(path)
    if not p.is_file():
        raise LithmapError(f"{what} {str(p)!r} does not exist")
    try:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            missing = [c for c in required if c not in fields]
            if missing:
                raise LithmapError(f"{what} {str(p)!r} lacks column(s) {missing}; found {fields}")
            return list(fields), list(reader)
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        text = " ".join(str(exc).split())[:200]
        raise LithmapError(f"{what} {str(p)!r} is not a readable CSV table ({type(exc).__name__}: {text})") from None


def write_table(path, header, rows) -> Path:
    """Write a CSV file atomically (a temporary file in the same folder, then renamed), so a
    failed write leaves nothing behind.

    Parameters
    ----------
    path : str or Path
        The file to write (replaced if it exists; callers check overwriting first).
    header : sequence of str
        Column names.
    rows : iterable of sequences
        One sequence per row; strings are written as they are, numbers as ``%.10g``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from lithmap.io.tables import read_columns, write_table
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_table(pathlib.Path(d) / "t.csv", ["theta", "diffusivity_m2_s"], [[0.5, 1e-15], [0.9, 2e-16]])
    ...     read_columns(p, ["theta"])[1][1]
    {'theta': '0.9', 'diffusivity_m2_s': '2e-16'}
    """
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
