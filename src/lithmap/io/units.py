"""Units: the one place where text with units becomes SI numbers.

Everything inside lithmap is SI (s, m, m²/s, kg, A, V, C); units live in ``units`` attrs, not
in names. Two entry points:

* :func:`parse_quantity` reads what a user types (``"50 nm"``, ``"1e-14cm^2/s"``, ``"5mg"``) on
  the command line or as a Python argument, through pint.
* :func:`unit_scale` reads the unit strings that files record (``"ms"``, ``"µm"``, ``"keV"``,
  ``"pixel"``) through one small table, so readers do not each keep their own.

>>> parse_quantity("2 um", "m")
2e-06
>>> parse_quantity("1e-14 cm^2/s", "m^2/s")
1e-18
>>> unit_scale("ms", "s")
0.001
>>> unit_scale("µm", "m")
1e-06
"""

from __future__ import annotations

import functools
import math

from ..errors import LithmapError

__all__ = ["UNIT_SPELLING", "optional_quantity", "parse_quantity", "unit_scale"]

#: How lithmap spells units in ``units`` attrs (one spelling each).
UNIT_SPELLING = {
    "time": "s", "length": "m", "pixel": "pixel", "energy": "eV", "diffusivity": "m^2/s",
    "capacity": "mA h", "specific_capacity": "mA h / g", "current": "A", "voltage": "V",
    "mass": "kg", "stress": "Pa", "concentration": "mol/m^3",
}

# Units files record, by the SI unit they convert to. Keys are lower case, µ/μ written as u.
_SCALES = {
    "s": {
        "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
        "ms": 1e-3, "msec": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
        "us": 1e-6, "microsecond": 1e-6, "microseconds": 1e-6,
        "ns": 1e-9, "nanosecond": 1e-9, "nanoseconds": 1e-9,
        "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
        "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
        "d": 86400.0, "day": 86400.0, "days": 86400.0,
    },
    "m": {
        "m": 1.0, "meter": 1.0, "metre": 1.0, "dm": 0.1, "cm": 1e-2, "mm": 1e-3,
        "um": 1e-6, "micron": 1e-6, "microns": 1e-6, "micrometer": 1e-6, "micrometre": 1e-6,
        "nm": 1e-9, "nanometer": 1e-9, "nanometre": 1e-9, "pm": 1e-12, "å": 1e-10, "angstrom": 1e-10,
    },
    "eV": {"ev": 1.0, "kev": 1e3},
}


@functools.cache
def _registry():
    import pint

    return pint.UnitRegistry()


def parse_quantity(text: str | float, unit: str, *, name: str = "value") -> float:
    """Parse ``text`` (e.g. ``"50 nm"``, ``"8um"``, ``"1e-14cm^2/s"``) and return it in ``unit``.

    Parameters
    ----------
    text : str or float
        A quantity with units, or a bare number, which is taken to be in ``unit`` already.
    unit : str
        The unit to return (pint syntax: ``"m"``, ``"m^2/s"``, ``"mA*h/g"``).
    name : str
        What the value is, for the error message.

    Returns
    -------
    float

    Raises
    ------
    LithmapError
        When the text cannot be parsed, has the wrong dimension or is not finite (the message
        names ``name`` and the text).

    Examples
    --------
    >>> parse_quantity("250 mg", "g")
    0.25
    >>> parse_quantity(0.3, "s")
    0.3
    >>> parse_quantity("500 nm", "m") == 0.5e-6
    True
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        s = str(text).strip().replace("µ", "u").replace("μ", "u")
        try:
            value = float(s)
        except ValueError:
            ureg = _registry()
            try:
                q = ureg.Quantity(s)
                # pint converts in binary floats ("500 nm" -> 5.000000000000001e-07); 15
                # significant digits, more than anyone types, give the float of the decimal
                # number the user meant, so "500 nm" and 0.5e-6 are the same input
                value = float(f"{float(q.to(unit).magnitude):.15g}")
            except Exception as exc:  # pint raises several unrelated exception types
                raise LithmapError(
                    f"{name}={text!r} is invalid; expected a quantity in {unit} such as '2 {unit}'"
                ) from exc
    if not math.isfinite(value):
        raise LithmapError(f"{name}={text!r} is invalid; expected a finite number")
    return value


def optional_quantity(text, unit: str, *, name: str, positive: bool = False) -> float | None:
    """:func:`parse_quantity` that passes ``None`` through and, with ``positive``, refuses
    values ≤ 0 (the message names ``name``).

    >>> optional_quantity(None, "m", name="radius") is None
    True
    >>> optional_quantity("1 um", "m", name="radius", positive=True)
    1e-06
    """
    if text is None:
        return None
    value = parse_quantity(text, unit, name=name)
    if positive and not value > 0:
        raise LithmapError(f"{name}={text!r} is invalid; expected a positive value in {unit}")
    return value


def unit_scale(unit: str | None, si: str, *, default: str | None = None) -> float | None:
    """Factor that turns a value recorded in ``unit`` (a file's unit string) into ``si``
    (``"s"``, ``"m"`` or ``"eV"``); ``None`` when the unit is not one lithmap knows.

    ``default`` is used when the file gives no unit. ``"pixel"`` (no physical size) gives None.

    >>> unit_scale("minutes", "s")
    60.0
    >>> unit_scale(None, "m", default="um")
    1e-06
    >>> unit_scale("pixel", "m") is None
    True
    """
    text = unit if unit not in (None, "") else default
    if text is None:
        return None
    key = str(text).strip().strip("[]()").strip().replace("µ", "u").replace("μ", "u").replace("\\u00b5", "u").lower()
    return _SCALES[si if si in _SCALES else si.lower()].get(key)
