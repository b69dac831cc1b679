"""The README's Python tour runs as written (so it cannot drift from the API)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_tour_runs():
    text = README.read_text()
    section = text[text.index("## The Python API in one screen"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["sim"].theta.dims == ("time", "y", "x")
    assert (scope["sim"].x.values == scope["job"].x.values).all()  # simulated on the movie's own grid
    assert 2.5 < float(scope["fit"].mean_valence) < 2.8  # Mn3O4, nominal 8/3
