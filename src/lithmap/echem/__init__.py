"""Electrochemistry: cycling analysis (segments, capacities, CE, dQ/dV), GITT, PITT.

Every analysis takes a cycler record read by :func:`lithmap.read_cycler` (raw file(s) →
Dataset on dim ``record``) and returns a Dataset: ``analyse_cycles`` (dim ``cycle``),
``analyse_gitt`` (dim ``pulse``), ``analyse_pitt`` (dim ``step``).
"""

#: Public names of this room (name → module); ``lithmap`` exports them too.
EXPORTS = {
    "analyse_cycles": "cycling", "dqdv": "cycling", "segment": "cycling", "write_cycles_csv": "cycling",
    "analyse_gitt": "gitt", "write_gitt_csv": "gitt", "analyse_pitt": "pitt",
}

from .._lazy import attach  # noqa: E402

__getattr__, __dir__, __all__ = attach(__name__, EXPORTS)
