"""Protocol strings (PyBaMM-style steps) → :class:`lithmap.Step`.

Table-driven: each example string from the protocol module docstring and the README sits
beside the Step fields it must give; each malformed string beside the text its error must name.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import lithmap
from lithmap import LithmapError, Step, parse_protocol
from lithmap.physics.protocol import parse_step

H = 3600.0

# text, kind, value (signed C-rate / V), duration (s), until_voltage (V), until_c_rate (|C|),
# specific_current (A/kg = mA/g)
STEPS = [
    ("Charge at C/3 until 4.3 V", "current", 1 / 3, None, 4.3, None, None),
    ("Charge at C/3 for 20 minutes", "current", 1 / 3, 20 * 60.0, None, None, None),
    ("Rest for 1 hour", "rest", 0.0, H, None, None, None),
    ("Discharge at 1C until 3.0 V", "current", -1.0, None, 3.0, None, None),
    ("Hold at 3.0 V for 2 hours", "voltage", 3.0, 2 * H, None, None, None),
    ("Hold at 3.0 V until C/200", "voltage", 3.0, None, None, 1 / 200, None),
    ("Charge at 70 mA/g for 1 h or until 4.2 V", "current", 0.0, H, 4.2, None, 70.0),
    ("Discharge at 70 mA/g for 1 h", "current", 0.0, H, None, None, -70.0),
    ("Charge at 0.07 A/g for 1 h", "current", 0.0, H, None, None, 70.0),
    ("Charge at 0.5 C for 30 s", "current", 0.5, 30.0, None, None, None),
    ("Charge at 0.5C for 30 s", "current", 0.5, 30.0, None, None, None),
    ("Charge at 2C for 5 min", "current", 2.0, 300.0, None, None, None),
    ("Discharge at 2C for 5 min", "current", -2.0, 300.0, None, None, None),
    ("Charge at C for 1 h", "current", 1.0, H, None, None, None),
    ("Charge at 2C/3 for 1 h", "current", 2 / 3, H, None, None, None),
    ("Charge at 1C for 10 minutes or until 4.2 V", "current", 1.0, 600.0, 4.2, None, None),
    ("Charge at 1C for 10 minutes until 4.2 V", "current", 1.0, 600.0, 4.2, None, None),
    ("Hold at 4200 mV for 1 h", "voltage", 4.2, H, None, None, None),
    ("Hold at 4.2 V for 1 h or until C/50", "voltage", 4.2, H, None, 1 / 50, None),
    ("charge   at  C/3  for 2 hrs", "current", 1 / 3, 2 * H, None, None, None),
    ("  Rest for 90 s  ", "rest", 0.0, 90.0, None, None, None),
    ("REST FOR 1 HOUR", "rest", 0.0, H, None, None, None),
    ("Rest for 1.5e3 s", "rest", 0.0, 1500.0, None, None, None),
]


@pytest.mark.parametrize(
    "text, kind, value, duration, until_voltage, until_c_rate, specific", STEPS, ids=[s[0].strip() for s in STEPS]
)
def test_parse_step(text, kind, value, duration, until_voltage, until_c_rate, specific):
    step = parse_step(text)
    assert isinstance(step, Step)
    assert step.kind == kind
    assert step.value == pytest.approx(value, rel=1e-12, abs=0)
    for got, want in (
        (step.duration, duration),
        (step.until_voltage, until_voltage),
        (step.until_c_rate, until_c_rate),
        (step.specific_current, specific),
    ):
        if want is None:
            assert got is None
        else:
            assert got == pytest.approx(want, rel=1e-12)
    assert step.text == text.strip()
    assert repr(step) == f"Step({text.strip()!r})"


@pytest.mark.parametrize("text", [s[0] for s in STEPS], ids=[s[0].strip() for s in STEPS])
def test_parse_protocol_of_one_step_equals_parse_step(text):
    assert parse_protocol(text) == [parse_step(text)]


UNITS = [
    ("s", 1.0), ("sec", 1.0), ("secs", 1.0), ("second", 1.0), ("seconds", 1.0),
    ("min", 60.0), ("mins", 60.0), ("minute", 60.0), ("minutes", 60.0),
    ("h", H), ("hr", H), ("hrs", H), ("hour", H), ("hours", H), ("Hours", H),
    ("day", 86400.0), ("days", 86400.0),
]


@pytest.mark.parametrize("unit, seconds", UNITS, ids=[u for u, _ in UNITS])
def test_time_units(unit, seconds):
    assert parse_step(f"Rest for 3 {unit}").duration == pytest.approx(3 * seconds)
    assert parse_step(f"Charge at 1C for 3{unit}").duration == pytest.approx(3 * seconds)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Discharge at 1C until 3.0 V then Hold at 3.0 V until C/200",
         ["Discharge at 1C until 3.0 V", "Hold at 3.0 V until C/200"]),
        ("Charge at C/3 for 20 minutes then Rest for 1 hour",
         ["Charge at C/3 for 20 minutes", "Rest for 1 hour"]),
        ("Charge at C/3 for 20 minutes THEN Rest for 1 hour",
         ["Charge at C/3 for 20 minutes", "Rest for 1 hour"]),
        ("Charge at 1C for 1 h; Rest for 1 h;Discharge at 1C until 3 V",
         ["Charge at 1C for 1 h", "Rest for 1 h", "Discharge at 1C until 3 V"]),
        ("Charge at 1C for 1 h\nRest for 1 h\n", ["Charge at 1C for 1 h", "Rest for 1 h"]),
        ("Charge at C/3 until 4.3 V then Hold at 4.3 V until C/50 then Rest for 2 hours then "
         "Discharge at C/3 until 3.0 V",
         ["Charge at C/3 until 4.3 V", "Hold at 4.3 V until C/50", "Rest for 2 hours",
          "Discharge at C/3 until 3.0 V"]),
    ],
)
def test_parse_protocol_joined_string(text, expected):
    steps = parse_protocol(text)
    assert [s.text for s in steps] == expected
    assert steps == [parse_step(t) for t in expected]


def test_parse_protocol_list_of_strings_and_steps():
    rest = parse_step("Rest for 1 hour")
    steps = parse_protocol(["Charge at C/3 until 4.3 V then Hold at 4.3 V until C/50", rest,
                            "Discharge at 1C for 10 min"])
    assert [s.text for s in steps] == [
        "Charge at C/3 until 4.3 V", "Hold at 4.3 V until C/50", "Rest for 1 hour", "Discharge at 1C for 10 min",
    ]
    assert steps[2] is rest
    assert parse_protocol(rest) == [rest]
    assert parse_protocol(("Rest for 1 s",)) == [parse_step("Rest for 1 s")]


def test_parse_protocol_is_exported():
    assert lithmap.parse_protocol is parse_protocol
    assert lithmap.Step is Step


@pytest.mark.parametrize(
    "text, capacity, c_rate",
    [
        ("Charge at 70 mA/g for 1 h", 210.0 * 3600, 1 / 3),  # practical capacity 210 mA h / g, in C/kg
        ("Charge at 70 mA/g for 1 h or until 4.2 V", 210 * 3600, 1 / 3),
        ("Discharge at 70 mA/g for 1 h", 210.0 * 3600, -1 / 3),
        ("Charge at 210 mA/g for 1 h", 210.0 * 3600, 1.0),
        ("Charge at 0.42 A/g for 1 h", 210.0 * 3600, 2.0),
    ],
)
def test_with_c_rate_converts_specific_current(text, capacity, c_rate):
    step = parse_step(text)
    resolved = step.with_c_rate(capacity)
    assert resolved.value == pytest.approx(c_rate, rel=1e-12)
    assert resolved.specific_current is None
    assert resolved.kind == "current"
    assert (resolved.duration, resolved.until_voltage, resolved.text) == (step.duration, step.until_voltage, step.text)
    assert step.specific_current is not None  # the original is unchanged (frozen)


def test_with_c_rate_leaves_c_rate_steps_alone():
    step = parse_step("Charge at C/3 for 1 h")
    assert step.with_c_rate(210.0 * 3600) is step
    assert step.with_c_rate(None) is step


@pytest.mark.parametrize("capacity", [None, 0.0])
def test_with_c_rate_needs_a_practical_capacity(capacity):
    step = parse_step("Charge at 70 mA/g for 1 h")
    with pytest.raises(LithmapError, match=re.escape("'Charge at 70 mA/g for 1 h'")):
        step.with_c_rate(capacity)


# text, regex the message must match (always including the offending text)
BAD = [
    ("", r"protocol step '' is invalid: it is empty"),
    ("   ", r"'   ' is invalid: it is empty"),
    ("Jump at 1C for 1 h", r"'Jump at 1C for 1 h'.*Charge, Discharge, Hold or Rest"),
    ("Charge at 1C", r"'Charge at 1C'.*'for <time>' or 'until <limit>'"),
    ("Hold at 3.0 V", r"'Hold at 3.0 V'.*'for <time>' or 'until <limit>'"),
    ("Charge quickly", r"'Charge quickly'"),
    ("Charge for 1 h", r"'Charge for 1 h'.*'Charge at \.\.\.'"),
    ("Charge at C/0 for 1 h", r"'Charge at C/0 for 1 h'.*'C/0'"),
    ("Hold at 3.0 V until C/0", r"'Hold at 3.0 V until C/0'.*'C/0'"),
    ("Charge at 0C for 1 h", r"'Charge at 0C for 1 h'.*'0C'.*positive"),
    ("Discharge at -1C for 1 h", r"'Discharge at -1C for 1 h'.*'-1C'"),
    ("Charge at fast for 1 h", r"'Charge at fast for 1 h'.*'fast'"),
    ("Charge at 1C for -1 h", r"'Charge at 1C for -1 h'.*'-1 h'"),
    ("Rest for -5 minutes", r"'Rest for -5 minutes'.*'-5 minutes'"),
    ("Charge at 1C for 0 minutes", r"'Charge at 1C for 0 minutes'.*not positive"),
    ("Rest for 0 s", r"'Rest for 0 s'.*not positive"),
    ("Rest at 1C for 1 h", r"'Rest at 1C for 1 h'.*a rest takes only a duration"),
    ("Rest until 4.2 V", r"'Rest until 4.2 V'.*a rest takes only a duration"),
    ("Rest for 1 h until 4.2 V", r"'Rest for 1 h until 4.2 V'.*a rest takes only a duration"),
    ("Hold at 3.0 V until 4.2 V", r"'Hold at 3.0 V until 4.2 V'.*'4.2 V'"),
    ("Hold at 3 V until 70 mA/g", r"'Hold at 3 V until 70 mA/g'.*C-rate"),
    ("Hold at 3 A for 1 h", r"'Hold at 3 A for 1 h'.*voltage '3 A'"),
    ("Charge at 1C until 4.2", r"'Charge at 1C until 4.2'.*voltage '4.2'"),
    ("Charge at 1C for 5 parsecs", r"'Charge at 1C for 5 parsecs'.*'5 parsecs'"),
    ("Charge at 1C for ages", r"'Charge at 1C for ages'.*'ages'"),
]


@pytest.mark.parametrize("text, pattern", BAD, ids=[b[0] or "<empty>" for b in BAD])
def test_malformed_step_names_the_text(text, pattern):
    with pytest.raises(LithmapError, match=pattern) as info:
        parse_step(text)
    assert isinstance(info.value, ValueError)  # LithmapError is a ValueError
    assert "examples:" in str(info.value)  # shows what a valid step looks like
    assert "\n" not in str(info.value)  # one line


@pytest.mark.parametrize("text, pattern", [b for b in BAD if b[0].strip()], ids=[b[0] for b in BAD if b[0].strip()])
def test_malformed_step_inside_a_protocol_names_that_step(text, pattern):
    with pytest.raises(LithmapError, match=pattern):
        parse_protocol(f"Rest for 1 s then {text} then Rest for 2 s")


@pytest.mark.parametrize("protocol", ["", "   ", ";", " then ", [], [""], ["", "  "]])
def test_empty_protocol(protocol):
    with pytest.raises(LithmapError, match=re.escape(f"protocol={protocol!r} is empty")):
        parse_protocol(protocol)


@pytest.mark.parametrize("text, c_rate", [
    ("C/3", 1 / 3), ("1C", 1.0), ("0.333", 0.333), ("-C/3", -1 / 3), ("+2C", 2.0), (" 0.5 C ", 0.5), ("C", 1.0),
    ("2C/3", 2 / 3), ("-0.25", -0.25), (0.5, 0.5), (np.float64(-1.5), -1.5), (2, 2.0),
])
def test_parse_c_rate(text, c_rate):
    assert lithmap.parse_c_rate(text) == c_rate


@pytest.mark.parametrize("text", ["fast", "", "C/0", "70 mA/g", "1 h", "nan", float("inf"), True, "C/3C"])
def test_parse_c_rate_bad_text_is_one_line_naming_it(text):
    with pytest.raises(LithmapError) as err:
        lithmap.parse_c_rate(text, name="rate")
    msg = str(err.value)
    assert msg.startswith(f"rate={text!r} is invalid; expected a C-rate") and "\n" not in msg


def test_parse_c_rate_agrees_with_protocol_rates():
    for text in ["C/3", "1C", "0.5 C", "2C/3", "C/200"]:
        assert lithmap.parse_c_rate(text) == parse_step(f"Charge at {text} for 1 h").value
