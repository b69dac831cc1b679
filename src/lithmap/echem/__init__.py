"""Electrochemistry: cycling analysis (segments, capacities, CE, dQ/dV), GITT, PITT."""

#: Public names of this room (name → module); ``lithmap`` exports them too.
EXPORTS = {
    "analyse_cycles": "cycling", "dqdv": "cycling", "segment": "cycling",
    "analyse_gitt": "gitt", "read_gitt_csv": "gitt", "analyse_pitt": "pitt",
}

from .._lazy import attach  # noqa: E402

__getattr__, __dir__, __all__ = attach(__name__, EXPORTS)
