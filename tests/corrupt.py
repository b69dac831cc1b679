"""Damaged copies of real files, for property-based reader tests (hypothesis).

Every reader family's test feeds its reader truncated and byte-corrupted copies of the real
test files and checks the one promise lithmap makes about bad input: the reader either returns
a result or raises :class:`lithmap.LithmapError` with a one-line message; never another
exception (a traceback for the user) and never a hang.

A reader that fails half-way can also leave an object whose destructor fails later; Python then
prints "Exception ignored in ..." on stderr (through :data:`sys.unraisablehook`), which the user
sees as a traceback fragment after the one-line error. :func:`check_reader` therefore also fails
on such destructor errors, and :func:`check_cli` / :func:`check_cli_batch` run the ``lithmap``
command in a fresh interpreter and look at its stderr as a user would: exit status 0, or one
line ``error: ...`` and nothing written.

Use::

    from corrupt import damaged_copies, check_reader

    @damaged_copies(DATA / "test.ndax")
    def test_ndax_reader_fails_cleanly(path):
        check_reader(lm.read_cycler, path)

A Zarr store is a folder: :func:`damaged_stores` damages one of its files.
"""

from __future__ import annotations

import gc
import json
import shutil
import signal
import subprocess
import sys
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


def damaged_stores(*stores: Path, max_examples: int = 25):
    """Decorator: run the test on copies of each of the folders ``stores`` (Zarr stores) with one
    of their files (metadata or chunk) truncated, overwritten or cut; the test receives the copy's
    path (same name)."""
    files = {Path(s): sorted(str(f.relative_to(s)) for f in Path(s).rglob("*") if f.is_file()) for s in stores}
    picks = [(str(s), f) for s, names in files.items() for f in names]

    def wrap(test):
        @settings(max_examples=max_examples, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
        @given(pick=st.sampled_from(picks), args=damage_args)
        def run(pick, args):
            store, name = Path(pick[0]), pick[1]
            with tempfile.TemporaryDirectory() as d:
                p = Path(d) / store.name
                shutil.copytree(store, p)
                target = p / name
                target.write_bytes(damage(target.read_bytes(), *args))
                test(p)

        run.__name__ = test.__name__
        run.__doc__ = test.__doc__
        return run

    return wrap


@contextmanager
def no_unraisable():
    """Fail (AssertionError) when a destructor raised inside the block, the error Python would
    print as "Exception ignored in ..." on stderr. The block's young garbage (reference cycles
    made during it: generations 0 and 1) is collected first; a full collection would cost
    ~30 ms per call, too much for a property test."""
    caught = []
    old = sys.unraisablehook
    sys.unraisablehook = caught.append
    try:
        yield
        gc.collect(1)
    finally:
        sys.unraisablehook = old
    assert not caught, ("a destructor failed (stderr would show 'Exception ignored in "
                        f"{caught[0].object!r}'): {type(caught[0].exc_value).__name__}: {caught[0].exc_value}")


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
    Anything else (another exception, a hang, a destructor that fails afterwards) fails the test
    with the damaged file's story."""
    with no_hang(), no_unraisable():
        try:
            result = read(path, *args, **kwargs)
        except lm.LithmapError as exc:
            message = str(exc)
            assert message and "\n" not in message.strip(), f"multi-line error: {message!r}"
            return None
    return result


# ------------------------------------------------------------------ the command, as a user runs it

#: Runs each argv of a JSON list on stdin through ``lithmap.cli.app`` in this one interpreter,
#: with stdout/stderr captured per command (destructor errors and warnings land in the command's
#: stderr, as they would in its own process); prints the JSON list [[status, stdout, stderr], ...].
_BATCH = r"""
import contextlib, gc, io, json, sys, traceback
from lithmap.cli import app
results = []
for argv in json.loads(sys.stdin.read()):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = app(argv, prog_name="lithmap", standalone_mode=False)
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = 1
        gc.collect()
    results.append([0 if code is None else code, out.getvalue(), err.getvalue()])
sys.__stdout__.write(json.dumps(results))
"""


def lithmap_command() -> list[str]:
    """The ``lithmap`` entry point of this interpreter's environment (or ``python -c`` its main)."""
    exe = Path(sys.executable).with_name("lithmap")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from lithmap.cli import main; sys.argv[0] = 'lithmap'; main()"]


def _check_outcome(argv, code, stderr, outputs):
    story = f"lithmap {' '.join(map(str, argv))} -> exit {code}, stderr:\n{stderr}"
    assert "Exception ignored" not in stderr and "Traceback" not in stderr, story
    if code != 0:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), story
        left = [str(o) for o in outputs if Path(o).exists()]
        assert not left, f"{story}\nleft behind: {left}"


def check_cli(args, outputs=(), *, timeout: int = 6 * HANG_SECONDS) -> subprocess.CompletedProcess:
    """Run ``lithmap ARGS`` in a fresh process, as a user does: it may succeed (exit 0); when it
    fails, stderr is exactly one line ``error: ...`` and none of ``outputs`` exists. Never a
    traceback, never "Exception ignored" (also not at interpreter exit), never a hang."""
    argv = [str(a) for a in args]
    try:
        res = subprocess.run(lithmap_command() + argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"lithmap {' '.join(argv)} still running after {timeout} s: a hang") from None
    _check_outcome(argv, res.returncode, res.stderr, outputs)
    return res


def check_cli_batch(cases, *, timeout: int = 12 * HANG_SECONDS) -> list:
    """:func:`check_cli` for many commands in ONE fresh process (a process costs ~2 s): ``cases``
    is a list of ``(args, outputs)``. Each command's own stdout/stderr is checked as one process
    would be, and what the interpreter prints at exit must be nothing. Returns
    ``[(status, stdout, stderr), ...]``."""
    argvs = [[str(a) for a in args] for args, _ in cases]
    try:
        res = subprocess.run([sys.executable, "-c", _BATCH], input=json.dumps(argvs), capture_output=True,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{len(argvs)} lithmap commands still running after {timeout} s: a hang") from None
    assert res.returncode == 0 and not res.stderr.strip(), f"the batch failed or printed at exit:\n{res.stderr}"
    results = json.loads(res.stdout)
    for (argv, (_, outputs)), (code, _out, err) in zip(zip(argvs, cases), results):
        _check_outcome(argv, code, err, outputs)
    return [tuple(r) for r in results]
