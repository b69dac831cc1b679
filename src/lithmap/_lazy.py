"""Lazy public names (PEP 562), so ``import lithmap`` stays light and each room of the package
declares its own public functions in one place: its ``EXPORTS`` table (public name → module)."""

from __future__ import annotations

import importlib


def attach(package: str, exports: dict[str, str]):
    """``(__getattr__, __dir__, __all__)`` for ``package`` whose public names are ``exports``
    (name → module, relative to the package)."""

    def __getattr__(name):
        if name in exports:
            value = getattr(importlib.import_module(f".{exports[name]}", package), name)
            globals_ = importlib.import_module(package).__dict__
            globals_[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(exports) | set(importlib.import_module(package).__dict__))

    return __getattr__, __dir__, sorted(exports)
