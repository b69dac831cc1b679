"""Tomography of a parallel-beam tilt series (tilt about ``y``): phantoms and their projections,
alignment (tilt axis, per-projection shifts), reconstruction by SIRT with non-negativity and a
support constraint, FBP, or MBIR (svmbir), of plain and spectral series (energy, angle, y, x)
— the volumes of Liu, Zeng et al., Nat. Nanotechnol. 2024. The results are what ``lithmap lcf``,
``shells``, ``pores``, ``composition`` and ``clusters`` read."""

#: Public names of this room (name → module); ``lithmap`` exports them too.
EXPORTS = {
    "reconstruct": "reconstruct", "check_projections": "reconstruct", "transmission_to_absorbance": "reconstruct",
    "align_projections": "align",
    "particle_phantom": "phantoms", "project": "phantoms",
    "read_projections": "readers", "parse_angles": "readers",
}

from .._lazy import attach  # noqa: E402

__getattr__, __dir__, __all__ = attach(__name__, EXPORTS)
