"""Electrochemistry: cycler records, cycling analysis and GITT (PITT to come)."""
from .cycling import analyse_cycles
from .gitt import analyse_gitt, read_gitt_csv

__all__ = ["analyse_cycles", "analyse_gitt", "read_gitt_csv"]
