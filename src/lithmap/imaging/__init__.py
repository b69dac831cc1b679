"""Operando image analysis: registration, particle masks, total contrast."""
from .contrast import contrast_movie, particle_mask, register_stack

__all__ = ["contrast_movie", "particle_mask", "register_stack"]
