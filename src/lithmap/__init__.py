"""lithmap: lithium heterogeneity inside single battery-cathode particles.

Raw files → maps → simulation of the same particle → fitted physics → report.
"""

__version__ = "0.1.0"

from .errors import LithmapError, SolverError  # noqa: E402
from .physics.engine import SolverOptions  # noqa: E402
from .physics.geometry import Cylinder, Disc, Ellipse, Polygon, Sphere, from_mask, parse_shape  # noqa: E402
from .physics.materials import (  # noqa: E402
    ConstantDiffusivity,
    FunctionDiffusivity,
    Material,
    TabulatedDiffusivity,
    get_material,
    nmc811,
)
from .physics.protocol import Step, parse_protocol  # noqa: E402
from .physics.simulate import simulate, sweep  # noqa: E402

# The functions behind every CLI command, loaded on first use (``lithmap.contrast_movie`` ...),
# so ``import lithmap`` stays light.
_LAZY = {
    # io
    "read_cycler": "io.cycler", "read_stack": "io.images", "frame_times": "io.images",
    "read_frame_times": "io.images", "write_result": "io.results", "read_result": "io.results",
    # electrochemistry
    "analyse_cycles": "echem.cycling", "dqdv": "echem.cycling", "analyse_gitt": "echem.gitt",
    "read_gitt_csv": "echem.gitt", "analyse_pitt": "echem.pitt",
    # operando images
    "contrast_movie": "imaging.contrast", "register_stack": "imaging.contrast", "particle_mask": "imaging.contrast",
    "find_particles": "imaging.regions", "equal_area_rings": "imaging.regions",
    "synchronise": "imaging.calibration", "calibrate_theta": "imaging.calibration",
    "theta_from_log": "imaging.calibration", "theta_from_charge": "imaging.calibration",
    "apply_calibration": "imaging.calibration",
    # X-ray spectro-microscopy and tomography
    "read_spectra": "spectro.spectra", "normalize": "spectro.spectra", "fit_lcf": "spectro.lcf",
    "lcf_from_files": "spectro.lcf", "shell_statistics": "spectro.shells", "element_maps": "spectro.composition",
    "classify_composition": "spectro.composition", "composition_maps": "spectro.composition",
    "parse_formula": "spectro.composition", "pore_analysis": "spectro.pores", "local_thickness": "spectro.pores",
    "charge_balance": "spectro.charge", "valence_capacity": "spectro.charge",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lithmap' has no attribute {name!r}")


__all__ = [
    "ConstantDiffusivity", "Cylinder", "Disc", "Ellipse", "FunctionDiffusivity", "LithmapError",
    "Material", "Polygon", "SolverError", "SolverOptions", "Sphere", "Step", "TabulatedDiffusivity",
    "from_mask", "get_material", "nmc811", "parse_protocol", "parse_shape", "simulate", "sweep", *sorted(_LAZY),
]
