"""Electrochemistry: cycler records, GITT (and, later, cycling analysis and PITT)."""
from .gitt import analyse_gitt, read_gitt_csv

__all__ = ["analyse_gitt", "read_gitt_csv"]
