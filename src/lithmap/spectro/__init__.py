"""X-ray spectro-microscopy and tomography: spectra pre-processing, per-pixel linear-combination
fitting, shells, composition, pores and cracks, charge balance."""

#: Public names of this room (name → module); ``lithmap`` exports them too.
EXPORTS = {
    "fit_lcf": "lcf", "lcf_from_files": "lcf", "parse_standard": "lcf", "parse_window": "lcf",
    "align": "spectra", "check_energies": "spectra", "edge_energy": "spectra", "find_e0": "spectra",
    "interpolate_standards": "spectra", "normalize": "spectra", "optical_density": "spectra",
    "read_absorbance": "spectra", "read_energies": "spectra", "read_prj": "spectra", "read_spectra": "spectra",
    "read_text_spectrum": "spectra", "read_tiff_stack": "spectra", "read_xdi": "spectra",
    "select_window": "spectra",
    "shell_statistics": "shells", "element_maps": "composition", "classify_composition": "composition",
    "composition_maps": "composition", "parse_formula": "composition", "pore_analysis": "pores",
    "local_thickness": "pores", "charge_balance": "charge", "valence_capacity": "charge",
}

from .._lazy import attach  # noqa: E402

__getattr__, __dir__, __all__ = attach(__name__, EXPORTS)
