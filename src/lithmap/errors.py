"""Errors raised for bad user input.

Every user-facing problem raises :class:`LithmapError` (a ``ValueError``) with one line that
names the bad value; the CLI prints that line and exits with status 2.
"""


class LithmapError(ValueError):
    """Bad input: a value, file or string that lithmap cannot use (message names it)."""


class SolverError(RuntimeError):
    """The time integrator could not proceed (message gives time, step size and tolerance)."""
