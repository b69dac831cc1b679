"""Readers and writers: every file lithmap reads becomes labelled xarray here (SI coordinates,
``units`` attrs), and every result is written here (atomically, never over an existing file)."""

#: Public names of this room (name → module); ``lithmap`` exports them too.
EXPORTS = {
    "read_result": "results", "write_result": "results",
    "read_cycler": "cycler",
    "read_stack": "images", "read_image": "images", "frame_times": "images", "read_frame_times": "images",
    "read_mask": "masks",
    "parse_quantity": "units",
}

from .._lazy import attach  # noqa: E402

__getattr__, __dir__, __all__ = attach(__name__, EXPORTS)
