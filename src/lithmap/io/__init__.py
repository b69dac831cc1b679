"""Readers and writers."""
from .results import read_result, write_result

__all__ = ["read_result", "write_result"]
