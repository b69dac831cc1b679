"""Checks shared by the CLI tests: a failing command says one line and exits non-zero."""


def one_line_error(result, *needles):
    """Assert a typer CliRunner ``result`` failed cleanly with one output line holding every needle;
    return that line."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
