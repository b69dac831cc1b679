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

__all__ = [
    "ConstantDiffusivity", "Cylinder", "Disc", "Ellipse", "FunctionDiffusivity", "LithmapError",
    "Material", "Polygon", "SolverError", "SolverOptions", "Sphere", "Step", "TabulatedDiffusivity",
    "from_mask", "get_material", "nmc811", "parse_protocol", "parse_shape", "simulate", "sweep",
]
