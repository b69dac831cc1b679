"""Chemo-mechanics: stress inside a particle from the lithium field the engine computes (after the
particle simulation of Liu, Zeng et al., Nat. Nanotechnol. 2024): chemical strain from a partial
molar volume or a lattice table, closed-form stresses for solid and hollow spheres, and finite
elements for spheres with voids and pores and for 2D particle outlines."""

#: Public names of this room (name → module); ``lithmap`` exports them too.
EXPORTS = {
    "LatticeTable": "strain", "MechanicalProperties": "strain", "chemical_strain": "strain",
    "elastic_constants": "strain", "lattice_volume": "strain", "mechanical_properties": "strain",
    "sphere_stress": "stress", "goodier_factor": "stress",
    "particle_stress": "driver", "simulate_stress": "driver", "stress_at_dod": "driver",
    "axisymmetric_stress": "fem", "planar_stress": "fem",
}

from .._lazy import attach  # noqa: E402

__getattr__, __dir__, __all__ = attach(__name__, EXPORTS)
