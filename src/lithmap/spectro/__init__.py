"""X-ray spectro-microscopy: spectra readers, pre-processing and per-pixel linear-combination fitting."""
from .lcf import fit_lcf, lcf_from_files, parse_standard, parse_window
from .spectra import (
    align,
    check_energies,
    edge_energy,
    find_e0,
    interpolate_standards,
    normalize,
    optical_density,
    read_absorbance,
    read_energies,
    read_prj,
    read_spectra,
    read_text_spectrum,
    read_tiff_stack,
    read_xdi,
    select_window,
)

__all__ = [
    "align", "check_energies", "edge_energy", "find_e0", "fit_lcf", "interpolate_standards", "lcf_from_files",
    "normalize", "optical_density", "parse_standard", "parse_window", "read_absorbance", "read_energies",
    "read_prj", "read_spectra", "read_text_spectrum", "read_tiff_stack", "read_xdi", "select_window",
]
