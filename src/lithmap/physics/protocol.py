"""Cycling protocols written the way battery people write them (PyBaMM-style step strings).

>>> parse_protocol("Charge at C/3 for 20 minutes then Rest for 1 hour")
[Step('Charge at C/3 for 20 minutes'), Step('Rest for 1 hour')]

Steps: ``Charge|Discharge at <rate> [for <time>] [or] [until <V> V | until <rate>]``,
``Rest for <time>``, ``Hold at <V> V [for <time>] [or] [until <rate>]``. A rate is a C-rate
(``C/3``, ``1C``, ``0.5 C``; :func:`parse_c_rate` reads one on its own) or a specific current
(``70 mA/g``, needs the material's practical capacity). Steps are joined by ``then``, ``;`` or new
lines, or given as a list.
"""

from __future__ import annotations

import dataclasses
import enum
import re

import numpy as np

from ..errors import LithmapError
from ..io.units import unit_scale

EXAMPLES = (
    "'Charge at C/3 until 4.3 V', 'Charge at C/3 for 20 minutes', 'Rest for 1 hour', "
    "'Discharge at 1C until 3.0 V', 'Hold at 3.0 V for 2 hours', 'Hold at 3.0 V until C/200'"
)

_NUM = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"


class StepKind(enum.StrEnum):
    """What a protocol step controls at the particle surface.

    A :class:`StepKind` equals its text (``StepKind.CURRENT == "current"``); :attr:`code` is
    the small integer the experiment's per-run step tables hold.

    Examples
    --------
    >>> StepKind("voltage"), StepKind.CURRENT == "current", StepKind.REST.code
    (<StepKind.VOLTAGE: 'voltage'>, True, 0)
    """

    REST = "rest"  #: no current: the particle relaxes
    CURRENT = "current"  #: a constant C-rate (galvanostatic)
    VOLTAGE = "voltage"  #: a constant voltage (potentiostatic hold, Butler–Volmer kinetics)

    @property
    def code(self) -> int:
        """The integer code of this kind in the experiment's step tables (REST 0, CURRENT 1, VOLTAGE 2)."""
        return _KIND_CODES[self]


_KIND_CODES = {StepKind.REST: 0, StepKind.CURRENT: 1, StepKind.VOLTAGE: 2}


@dataclasses.dataclass(frozen=True)
class Step:
    """One protocol step (usually made by :func:`parse_protocol` from text).

    Parameters
    ----------
    kind : StepKind or str
        ``"current"`` (``value`` = signed C-rate, + = charge = delithiation), ``"voltage"``
        (``value`` = V) or ``"rest"``.
    value : float
        The C-rate or the voltage (V) the step holds.
    duration : float, optional
        Length of the step, s.
    until_voltage : float, optional
        Voltage cut-off of a current step, V.
    until_c_rate : float, optional
        |C-rate| below which a voltage hold ends.
    text : str
        The step as written.
    specific_current : float, optional
        Signed current per mass of active material, A/kg (numerically the mA/g of ``"70 mA/g"``),
        when the rate was given so; :meth:`with_c_rate` turns it into a C-rate with the
        material's practical capacity.

    Examples
    --------
    >>> st = Step("current", 1 / 3, duration=3600.0, text="Charge at C/3 for 1 hour")
    >>> st.kind, st.kind is StepKind.CURRENT, st.duration
    (<StepKind.CURRENT: 'current'>, True, 3600.0)
    >>> parse_protocol("Hold at 4.2 V until C/50")[0].until_c_rate
    0.02
    >>> parse_protocol("Charge at 70 mA/g for 1 hour")[0].specific_current  # A/kg
    70.0
    """

    kind: StepKind
    value: float = 0.0
    duration: float | None = None
    until_voltage: float | None = None
    until_c_rate: float | None = None
    text: str = ""
    specific_current: float | None = None

    def __post_init__(self):
        try:
            object.__setattr__(self, "kind", StepKind(self.kind))
        except ValueError:
            raise LithmapError(
                f"step kind {self.kind!r} is invalid; expected one of {[k.value for k in StepKind]}"
            ) from None

    def __repr__(self):
        return f"Step({self.text!r})"

    def with_c_rate(self, practical_capacity: float | None) -> Step:
        """This step with a specific current resolved into a C-rate (itself if it has none).

        Parameters
        ----------
        practical_capacity : float or None
            The material's practical capacity, C/kg (what 1C delivers in one hour;
            :attr:`lithmap.Material.practical_capacity`).

        Returns
        -------
        Step

        Examples
        --------
        >>> st = parse_protocol("Charge at 70 mA/g for 1 hour")[0]
        >>> round(st.with_c_rate(210 * 3600.0).value, 6)  # 210 mA h / g = 756 000 C/kg: C/3
        0.333333
        """
        if self.specific_current is None:
            return self
        if not practical_capacity:
            raise LithmapError(
                f"protocol step {self.text!r} gives a current in mA/g; that needs a material "
                "with a practical capacity (e.g. --material nmc811)"
            )
        one_c = practical_capacity / 3600.0  # A/kg that delivers the practical capacity in one hour
        return dataclasses.replace(self, value=self.specific_current / one_c, specific_current=None)


def _bad(text, why):
    return LithmapError(f"protocol step {text!r} is invalid: {why}; examples: {EXAMPLES}")


def _c_rate_parts(t: str) -> tuple[float, float] | None:
    """(numerator, denominator) of an unsigned C-rate without spaces ('1C', 'C/3', '0.5C'), else None."""
    m = re.fullmatch(rf"({_NUM})?C(?:/({_NUM}))?", t, flags=re.I)
    if m and (m.group(1) or m.group(2) or t.upper() == "C"):
        return (float(m.group(1)) if m.group(1) else 1.0), (float(m.group(2)) if m.group(2) else 1.0)
    return None


def _rate(token: str, text: str) -> tuple[float | None, float | None]:
    """Return (C-rate, specific current A/kg = mA/g) from '1C', 'C/3', '0.5 C', '70 mA/g'."""
    t = token.strip().replace(" ", "")
    parts = _c_rate_parts(t)
    if parts is not None:
        num, den = parts
        if den == 0:
            raise _bad(text, f"rate {token!r} divides by zero")
        return num / den, None
    m = re.fullmatch(rf"({_NUM})(mA|A)/g", t, flags=re.I)
    if m:
        return None, float(m.group(1)) * (1000.0 if m.group(2).lower() == "a" else 1.0)
    raise _bad(text, f"rate {token!r} is not a C-rate like 'C/3' or '1C' or a current like '70 mA/g'")


def parse_c_rate(text, *, name: str = "rate") -> float:
    """A signed C-rate (1/h; + = charge = delithiation) from text or a number.

    Parameters
    ----------
    text : str or float
        ``"C/3"``, ``"1C"``, ``"0.5 C"``, ``"-C/3"`` (a discharge), a plain number as text
        (``"0.333"``) or a number.
    name : str
        What the value is, for the error message.

    Returns
    -------
    float

    Raises
    ------
    LithmapError
        Text that is not a C-rate, or a rate that is not finite (one line naming ``name`` and
        the text).

    Examples
    --------
    >>> parse_c_rate("C/3"), parse_c_rate("-2C"), parse_c_rate("0.25"), parse_c_rate(0.5)
    (0.3333333333333333, -2.0, 0.25, 0.5)
    >>> parse_c_rate("fast")
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: rate='fast' is invalid; expected a C-rate such as C/3 (charge) or -C/3 (discharge)
    """
    bad = LithmapError(f"{name}={text!r} is invalid; expected a C-rate such as C/3 (charge) or -C/3 (discharge)")
    if isinstance(text, (int, float, np.number)) and not isinstance(text, bool):
        if not np.isfinite(text):
            raise bad
        return float(text)
    raw = str(text).strip()
    sign = -1.0 if raw.startswith("-") else 1.0
    body = raw.lstrip("+-").replace(" ", "")
    if re.fullmatch(_NUM, body):
        return sign * float(body)
    parts = _c_rate_parts(body)
    if parts is None or parts[1] == 0:
        raise bad
    return sign * parts[0] / parts[1]


def _duration(token: str, text: str) -> float:
    m = re.fullmatch(rf"\s*({_NUM})\s*([a-zA-Z]+)\s*", token)
    scale = unit_scale(m.group(2), "s") if m else None
    if scale is None:
        raise _bad(text, f"duration {token.strip()!r} is not like '20 minutes' or '1 hour'")
    return float(m.group(1)) * scale


def _voltage(token: str, text: str) -> float:
    m = re.fullmatch(rf"\s*({_NUM})\s*(m?V)\s*", token)
    if not m:
        raise _bad(text, f"voltage {token.strip()!r} is not like '4.3 V'")
    return float(m.group(1)) * (1e-3 if m.group(2) == "mV" else 1.0)


def parse_step(text: str) -> Step:
    """Parse one step string into a :class:`Step` (raises :class:`LithmapError` naming it)."""
    raw = text.strip()
    if not raw:
        raise _bad(text, "it is empty")
    s = re.sub(r"\s+", " ", raw)
    m = re.fullmatch(r"(?i)(charge|discharge|hold|rest)\b(.*)", s)
    if not m:
        raise _bad(raw, "it must start with Charge, Discharge, Hold or Rest")
    verb, rest = m.group(1).lower(), m.group(2)
    until = None
    duration = None
    mu = re.search(r"(?i)\s+(?:or\s+)?until\s+(.+)$", rest)
    if mu:
        until = mu.group(1)
        rest = rest[: mu.start()]
    mf = re.search(r"(?i)\s+for\s+(.+)$", rest)
    if mf:
        duration = _duration(mf.group(1), raw)
        rest = rest[: mf.start()]
    if duration is not None and duration <= 0:
        raise _bad(raw, f"duration {duration!r} s is not positive")
    ma = re.fullmatch(r"(?i)\s*at\s+(.+)", rest)
    if verb == "rest":
        if rest.strip() or until is not None or duration is None:
            raise _bad(raw, "a rest takes only a duration, e.g. 'Rest for 1 hour'")
        return Step("rest", 0.0, duration, text=raw)
    if not ma:
        raise _bad(raw, f"expected '{verb.capitalize()} at ...'")
    target = ma.group(1)
    if until is None and duration is None:
        raise _bad(raw, "it needs 'for <time>' or 'until <limit>'")
    if verb == "hold":
        volts = _voltage(target, raw)
        until_c_rate = None
        if until is not None:
            c, spec = _rate(until, raw)
            if spec is not None:
                raise _bad(raw, "a hold ends at a C-rate such as 'until C/200'")
            if c <= 0:
                raise _bad(raw, f"C-rate cut-off {until.strip()!r} must be positive")
            until_c_rate = abs(c)
        return Step("voltage", volts, duration, until_c_rate=until_c_rate, text=raw)
    c, spec = _rate(target, raw)
    sign = 1.0 if verb == "charge" else -1.0
    if (c is not None and c <= 0) or (spec is not None and spec <= 0):
        raise _bad(raw, f"rate {target.strip()!r} must be positive (use Charge/Discharge for the sign)")
    until_voltage = _voltage(until, raw) if until is not None else None
    return Step(
        "current",
        sign * c if c is not None else 0.0,
        duration,
        until_voltage=until_voltage,
        text=raw,
        specific_current=sign * spec if spec is not None else None,
    )


def parse_protocol(protocol) -> list[Step]:
    """Parse a protocol into its steps.

    Parameters
    ----------
    protocol : str, Step or list
        A string of steps joined by ``then``, ``;`` or new lines, a list of such strings, or
        :class:`Step` objects. Steps: ``Charge|Discharge at <rate> [for <time>] [or] [until <V> V]``,
        ``Rest for <time>``, ``Hold at <V> V [for <time>] [or] [until <rate>]``.

    Returns
    -------
    list of Step

    Raises
    ------
    LithmapError
        A step that cannot be read (the message names it and shows examples).

    Examples
    --------
    >>> steps = parse_protocol("Charge at C/3 until 4.2 V then Hold at 4.2 V until C/50")
    >>> [(str(s.kind), round(s.value, 4)) for s in steps]
    [('current', 0.3333), ('voltage', 4.2)]
    >>> parse_protocol(["Rest for 2 min"])[0].duration
    120.0
    """
    if isinstance(protocol, Step):
        return [protocol]
    if isinstance(protocol, str):
        items = [protocol]
    else:
        items = list(protocol)
    steps: list[Step] = []
    for item in items:
        if isinstance(item, Step):
            steps.append(item)
            continue
        for piece in re.split(r"(?i)\s+then\s+|;|\n", str(item)):
            if piece.strip():
                steps.append(parse_step(piece))
    if not steps:
        raise LithmapError(f"protocol={protocol!r} is empty; examples: {EXAMPLES}")
    return steps
