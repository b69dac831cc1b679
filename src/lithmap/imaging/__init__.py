"""Operando image analysis: registration, particle masks, total contrast, rings, calibration, and
the whole analyses the command line runs (:func:`analyse_movie`, :func:`particle_table`)."""

#: Public names of this room (name → module); ``lithmap`` exports them too.
EXPORTS = {
    "contrast_movie": "contrast", "register_stack": "contrast", "particle_mask": "contrast",
    "find_particles": "regions", "equal_area_rings": "regions",
    "synchronise": "calibration", "calibrate_theta": "calibration", "theta_from_log": "calibration",
    "theta_from_charge": "calibration", "apply_calibration": "calibration",
    "analyse_movie": "analyse", "particle_table": "analyse", "write_particle_table": "analyse",
    "synthetic_movie": "synthetic",
}

from .._lazy import attach  # noqa: E402

__getattr__, __dir__, __all__ = attach(__name__, EXPORTS)
