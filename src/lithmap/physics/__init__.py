"""Particle physics: materials, geometry, protocols and the diffusion engine."""

#: Public names of this room (name → module); ``lithmap`` exports them too.
EXPORTS = {
    "run_batch": "engine",
    "SurfaceLimits": "experiment",
    "SolverOptions": "solver",
    "Cylinder": "geometry", "Disc": "geometry", "Ellipse": "geometry", "Polygon": "geometry", "Sphere": "geometry",
    "HollowSphere": "geometry", "from_mask": "geometry", "parse_shape": "geometry",
    "porous_sphere": "fem_mesh", "PorousSphere": "fem_mesh",
    "ConstantDiffusivity": "materials", "FunctionDiffusivity": "materials", "Material": "materials",
    "TabulatedDiffusivity": "materials", "get_material": "materials", "nmc811": "materials",
    "lrtmo": "materials", "lrtmo_diffusivity": "materials",
    "as_diffusivity": "materials", "describe_materials": "materials",
    "Step": "protocol", "StepKind": "protocol", "parse_protocol": "protocol", "parse_c_rate": "protocol",
    "simulate": "simulate", "sweep": "simulate", "protocol_duration": "simulate", "sweep_duration": "simulate",
}

from .._lazy import attach  # noqa: E402

__getattr__, __dir__, __all__ = attach(__name__, EXPORTS)
