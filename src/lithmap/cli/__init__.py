"""The ``lithmap`` command line. Each command parses options, calls one public function and
writes its result; bad input prints one line and exits with status 2, writing nothing."""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path

import typer

from ..errors import LithmapError, SolverError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="lithmap: lithium heterogeneity inside single battery-cathode particles.",
)



def _fail(message: str, code: int = 2):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def friendly(func):
    """Turn lithmap's input errors into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except LithmapError as exc:
            _fail(str(exc).splitlines()[0])
        except SolverError as exc:
            _fail(f"solver failed: {exc}", code=3)

    return wrapper


def with_unit(text: str | None, unit: str) -> str | None:
    """A bare number on the command line is in the option's documented ``unit``; the library
    reads bare numbers as SI, so give it the unit. Text with its own unit passes unchanged.

    >>> with_unit("5.1", "mg"), with_unit("5.1 g", "mg"), with_unit(None, "mg")
    ('5.1 mg', '5.1 g', None)
    """
    if text is None:
        return None
    try:
        float(text)
    except ValueError:
        return text
    return f"{text} {unit}"


@contextlib.contextmanager
def _progress(total: float | None, *, label: str = "simulating", unit: str = "s", absolute: bool = True):
    """A rich progress bar (terminals only); yields a callback taking the progress so far
    (``absolute``) or an increment, or None when no bar is shown."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if not sys.stderr.isatty() or not total:
        yield None
        return
    prog = Progress(TextColumn(label), BarColumn(), TextColumn(f"{{task.completed:.0f}}/{{task.total:.0f}} {unit}"),
                    TimeElapsedColumn(), transient=True)
    task = prog.add_task(label, total=total)
    with prog:
        if absolute:
            yield lambda t: prog.update(task, completed=min(t, total))
        else:
            yield lambda d: prog.advance(task, d)


def _outputs(out: Path, *, overwrite: bool, inputs=(), figure: bool = True) -> Path | None:
    """Check the output and its figure (OUT with .png) before any work: neither may exist unless
    ``overwrite``, and neither may be one of the ``inputs``. Returns the figure path."""
    from ..io.results import check_output_path

    given = {Path(str(i).split(".h5:")[0]).resolve() for i in inputs if i is not None}
    paths = [out] + ([out.with_suffix(".png")] if figure else [])
    for p in paths:
        if p.resolve() in given:
            raise LithmapError(f"output {str(p)!r} would overwrite an input; choose another --out")
        check_output_path(p, overwrite=overwrite)
    return paths[1] if figure else None


@contextlib.contextmanager
def _all_or_nothing(out: Path):
    """Remove ``out`` again when what follows its writing (a figure) fails."""
    try:
        yield
    except BaseException:
        if out.is_dir():
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        elif out.exists():
            out.unlink()
        raise


# The commands live one room per concern; importing them registers them on ``app``.
from . import physics, echem, imaging, spectro, inverse, clusters, tomo, mechanics, report, demo, view  # noqa: E402,F401,I001


def main():  # pragma: no cover
    app()
