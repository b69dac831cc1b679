"""Figures and reports."""
from .plots import plot_simulation

__all__ = ["plot_simulation"]
