"""Example data shipped with lithmap (like ``skimage.data``): small real measurements and two
documented synthetic files, so every docstring example and ``make demo`` run on a fresh install.
What each file is, where it comes from and its licence: ``lithmap/data/README.md``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import LithmapError

__all__ = ["EXAMPLE_PIXEL_SIZE", "example_file", "example_files"]

#: Pixel size of the example particle outline and the example movie (50 nm).
EXAMPLE_PIXEL_SIZE = 50e-9


def example_files() -> list[str]:
    """Names of the shipped example files.

    Returns
    -------
    list of str
        File names to pass to :func:`example_file`.

    Examples
    --------
    >>> "example_movie.tif" in example_files()
    True
    """
    root = resources.files("lithmap") / "data"
    return sorted(p.name for p in root.iterdir() if p.is_file() and not p.name.startswith(("README", "LICENSE")))


def example_file(name: str) -> Path:
    """Path of a shipped example file.

    Parameters
    ----------
    name : str
        One of :func:`example_files`, e.g. ``"example_movie.tif"`` (SYNTHETIC operando movie),
        ``"example_particle.png"`` (SYNTHETIC outline, 50 nm pixels), ``"MnO_rt_01.xdi"`` (real
        XANES standard), ``"test.ndax"`` (real Neware file), ``"gitt_pulse_1.csv"`` (real GITT pulse).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> example_file("example_particle.png").name
    'example_particle.png'
    """
    p = Path(str(resources.files("lithmap") / "data" / name))
    if not p.is_file() or name.startswith(("README", "LICENSE")):
        raise LithmapError(f"example file {name!r} does not exist; lithmap ships {example_files()}")
    return p
