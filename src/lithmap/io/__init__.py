"""Readers and writers: every file lithmap reads becomes labelled xarray here (SI coordinates,
``units`` attrs), and every result is written here (atomically, never over an existing file)."""

#: Public names of this room (name → module); ``lithmap`` exports them too.
EXPORTS = {
    "read_result": "results", "write_result": "results",
    "read_cycler": "cycler", "read_columns": "tables", "write_table": "tables",
    "read_movie": "movies", "read_image": "images", "pixel_size_of": "images",
    "read_mask": "masks",
    "read_spectra": "spectra", "read_xdi": "spectra", "read_prj": "spectra", "read_text_spectrum": "spectra",
    "read_tiff_stack": "spectra", "read_absorbance": "spectra", "read_energies": "spectra",
    "check_energies": "spectra", "optical_density": "spectra", "read_field": "spectra",
    "read_element_images": "spectra",
    "parse_quantity": "units",
}

from .._lazy import attach  # noqa: E402

__getattr__, __dir__, __all__ = attach(__name__, EXPORTS)
