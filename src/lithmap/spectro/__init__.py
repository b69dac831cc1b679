"""X-ray spectro-microscopy and tomography (after Liu, Zeng et al., Nat. Nanotechnol. 2024): spectra
pre-processing, per-pixel linear-combination fitting, shells, composition, pores and cracks,
charge balance. The spectra readers are in :mod:`lithmap.io.spectra`."""

#: Public names of this room (name → module); ``lithmap`` exports them too.
EXPORTS = {
    "fit_lcf": "lcf", "lcf_from_files": "lcf", "parse_standard": "lcf", "parse_window": "lcf",
    "align": "spectra", "edge_energy": "spectra", "find_e0": "spectra", "interpolate_standards": "spectra",
    "normalise": "spectra", "select_window": "spectra",
    "shell_statistics": "shells", "shell_table": "shells",
    "element_maps": "composition", "classify_composition": "composition", "composition_maps": "composition",
    "parse_formula": "composition", "parse_fraction": "composition",
    "pore_analysis": "pores", "local_thickness": "pores",
    "charge_balance": "charge", "valence_capacity": "charge", "parse_valences": "charge",
    "spectral_clusters": "clusters",
}

from .._lazy import attach  # noqa: E402

__getattr__, __dir__, __all__ = attach(__name__, EXPORTS)
