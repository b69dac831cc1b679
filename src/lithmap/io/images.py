"""Image stacks: multi-page TIFF with the frame interval and pixel size from its metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import LithmapError


def read_stack(path) -> tuple[np.ndarray, dict]:
    """Return ``(stack, meta)``; ``meta`` holds ``frame_interval_s`` and ``pixel_size_m`` when the
    file records them (tifffile's shaped metadata, as lithmap writes them)."""
    import tifffile

    p = Path(path)
    if not p.is_file():
        raise LithmapError(f"movie {str(p)!r} does not exist")
    try:
        with tifffile.TiffFile(p) as tf:
            stack = tf.asarray()
            shaped = tf.shaped_metadata or ({},)
    except Exception as exc:
        raise LithmapError(f"movie {str(p)!r} is not a readable TIFF stack ({type(exc).__name__}: {exc})") from None
    meta = {k: float(shaped[0][k]) for k in ("frame_interval_s", "pixel_size_m") if k in shaped[0]}
    return np.asarray(stack), meta
