"""Unit parsing at the CLI/IO edge. Everything inside lithmap is SI.

>>> parse_quantity("2 um", "m")
2e-06
>>> parse_quantity("1e-14 cm^2/s", "m^2/s")
1e-18
"""

from __future__ import annotations

import functools
import math

from .errors import LithmapError


@functools.cache
def _registry():
    import pint

    return pint.UnitRegistry()


def parse_quantity(text: str | float, unit: str, *, name: str = "value") -> float:
    """Parse ``text`` (e.g. ``"50 nm"``, ``"8um"``, ``"1e-14cm^2/s"``) and return it in ``unit``.

    A bare number is taken to be in ``unit`` already. Raises :class:`LithmapError` naming
    ``name`` and the text when the string cannot be parsed or has the wrong dimension.
    """
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        s = str(text).strip().replace("µ", "u").replace("μ", "u")
        try:
            value = float(s)
        except ValueError:
            ureg = _registry()
            try:
                q = ureg.Quantity(s)
                value = float(q.to(unit).magnitude)
            except Exception as exc:  # pint raises several unrelated exception types
                raise LithmapError(
                    f"{name}={text!r} is invalid; expected a quantity in {unit} such as '2 {unit}'"
                ) from exc
    if not math.isfinite(value):
        raise LithmapError(f"{name}={text!r} is invalid; expected a finite number")
    return value
