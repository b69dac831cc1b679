"""Electrochemistry: cycler records, cycling analysis (segments, capacities, CE, dQ/dV), GITT, PITT."""
from .cycling import analyse_cycles, dqdv, segment
from .gitt import analyse_gitt, read_gitt_csv
from .pitt import analyse_pitt

__all__ = ["analyse_cycles", "analyse_gitt", "analyse_pitt", "dqdv", "read_gitt_csv", "segment"]
