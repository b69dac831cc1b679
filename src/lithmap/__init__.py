"""lithmap: lithium heterogeneity inside single battery-cathode particles.

Raw files → maps → simulation of the same particle → fitted physics → report, after
Xu, Merryweather et al. (Joule 2022; operando optical microscopy of NMC811) and
Liu, Zeng et al. (Nat. Nanotechnol. 2024; X-ray spectro-tomography of Li-rich oxides).

Every public function of every room (``io``, ``echem``, ``imaging``, ``spectro``, ``tomo``,
``physics``, ``mechanics``, ``inverse``, ``report``) is importable from here; each is loaded on first use, so
``import lithmap`` is light.

>>> import lithmap as lm
>>> movie = lm.read_movie(lm.example_file("example_movie.tif"))
>>> movie.dims, movie.sizes["time"]
(('time', 'y', 'x'), 31)
"""

__version__ = "0.1.0"

import importlib as _importlib

from .datasets import EXAMPLE_PIXEL_SIZE, example_file, example_files  # noqa: F401
from .errors import LithmapError, SolverError  # noqa: F401

ROOMS = ("io", "echem", "imaging", "spectro", "physics", "inverse", "report", "tomo", "mechanics")

_LAZY = {}
for _room in ROOMS:
    for _name in _importlib.import_module(f".{_room}", __name__).EXPORTS:
        if _name in _LAZY:
            raise ImportError(f"lithmap.{_name} is exported by both {_LAZY[_name]} and {_room}")  # pragma: no cover
        _LAZY[_name] = f"{_room}.{_importlib.import_module(f'.{_room}', __name__).EXPORTS[_name]}"


def __getattr__(name):
    if name in _LAZY:
        value = getattr(_importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lithmap' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["EXAMPLE_PIXEL_SIZE", "LithmapError", "SolverError", "example_file", "example_files", *sorted(_LAZY)]
