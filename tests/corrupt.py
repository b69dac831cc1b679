"""Damaged copies of real files, for property-based reader tests (hypothesis).

Every reader family's test feeds its reader truncated and byte-corrupted copies of the real
test files and checks the one promise lithmap makes about bad input: the reader either returns
a result or raises :class:`lithmap.LithmapError` with a one-line message; never another
exception (a traceback for the user) and never a hang.

Use::

    from corrupt import damaged_copies, check_reader

    @damaged_copies(DATA / "test.ndax")
    def test_ndax_reader_fails_cleanly(path):
        check_reader(lm.read_cycler, path)
"""

from __future__ import annotations

import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lithmap as lm

#: Seconds one read of a damaged file may take before it counts as a hang.
HANG_SECONDS = 20


def damage(raw: bytes, how: str, where: float, width: int, value: int) -> bytes:
    """``raw`` truncated at ``where`` (a fraction of its length), or with ``width`` bytes there
    overwritten by ``value``, or with those bytes removed."""
    n = len(raw)
    k = min(int(where * n), max(n - 1, 0))
    if how == "truncate":
        return raw[:k]
    if how == "overwrite":
        return raw[:k] + bytes([value]) * min(width, n - k) + raw[k + width:]
    return raw[:k] + raw[k + width:]  # "delete"


damage_args = st.tuples(st.sampled_from(["truncate", "overwrite", "delete"]), st.floats(0.0, 1.0),
                        st.integers(1, 64), st.integers(0, 255))


def damaged_copies(*sources: Path, max_examples: int = 25):
    """Decorator: run the test on damaged copies of each of ``sources`` (one temporary file
    with the same name and suffix each time); the test receives its path."""

    def wrap(test):
        @settings(max_examples=max_examples, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
        @given(source=st.sampled_from(list(sources)), args=damage_args)
        def run(source, args):
            raw = Path(source).read_bytes()
            with tempfile.TemporaryDirectory() as d:
                p = Path(d) / Path(source).name
                p.write_bytes(damage(raw, *args))
                test(p)

        run.__name__ = test.__name__
        run.__doc__ = test.__doc__
        return run

    return wrap


@contextmanager
def no_hang(seconds: int = HANG_SECONDS):
    """Fail (raise TimeoutError) when the block runs longer than ``seconds``."""

    def alarm(signum, frame):
        raise TimeoutError(f"reader still running after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_reader(read, path, *args, **kwargs):
    """Call ``read(path, ...)``: it may succeed; a failure must be a one-line LithmapError.
    Anything else (another exception, a hang) fails the test with the damaged file's story."""
    with no_hang():
        try:
            result = read(path, *args, **kwargs)
        except lm.LithmapError as exc:
            message = str(exc)
            assert message and "\n" not in message.strip(), f"multi-line error: {message!r}"
            return None
    return result
