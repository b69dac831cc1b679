"""Electrochemistry: cycler records, cycling analysis, GITT and PITT."""
from .cycling import analyse_cycles
from .gitt import analyse_gitt, read_gitt_csv
from .pitt import analyse_pitt

__all__ = ["analyse_cycles", "analyse_gitt", "analyse_pitt", "read_gitt_csv"]
