"""Line profiles through a particle as sparse sampling operators.

A profile is a fixed linear map from a frame to the values along a line (bilinear
interpolation at points 1 px apart): :func:`line_sampler` builds it once as four pixel indices
and weights per point, and :func:`sample_line` applies it to any number of frames with one
gather. :func:`axis_line` gives the particle's
major or minor axis through its centroid (seed1 Fig. 3E uses a line across the particle).
"""

from __future__ import annotations

import numpy as np

from ..errors import LithmapError


def axis_line(mask, which: str = "major"):
    """End points ``((y0, x0), (y1, x1))`` in pixels of the particle's ``major`` or ``minor``
    axis through its centroid, each as long as the particle's moment-equivalent ellipse."""
    from skimage.measure import regionprops

    if which not in ("major", "minor"):
        raise LithmapError(f"line={which!r} is invalid; expected 'major', 'minor' or y0,x0,y1,x1 in pixels")
    m = np.asarray(mask, np.uint8)
    if not m.any():
        raise LithmapError("the particle mask is empty")
    p = regionprops(m)[0]
    cy, cx = p.centroid
    angle = p.orientation + (np.pi / 2 if which == "minor" else 0.0)  # from the row (y) axis
    half = (p.axis_major_length if which == "major" else p.axis_minor_length) / 2
    dy, dx = half * np.cos(angle), half * np.sin(angle)
    return (cy - dy, cx - dx), (cy + dy, cx + dx)


def line_sampler(shape, start, end):
    """Return ``(distance_px, pixels, weights)``: points 1 px apart from ``start`` to ``end``
    (both included, ``ceil(length) + 1`` points, as :func:`skimage.measure.profile_line` with
    ``order=1``), and for each point the flat indices (n, 4) of its four neighbouring pixels
    and their bilinear weights (n, 4). Points outside the image take the nearest edge pixel."""
    ny, nx = shape
    (y0, x0), (y1, x1) = start, end
    for v in (y0, x0, y1, x1):
        if not np.isfinite(v):
            raise LithmapError(f"line end point {v!r} is not a finite pixel coordinate")
    length = float(np.hypot(y1 - y0, x1 - x0))
    if length == 0:
        raise LithmapError(f"line from {start} to {end} has zero length")
    n = int(np.ceil(length)) + 1
    ys, xs = np.linspace(y0, y1, n), np.linspace(x0, x1, n)
    ys, xs = np.clip(ys, 0, ny - 1), np.clip(xs, 0, nx - 1)
    iy, ix = np.minimum(np.floor(ys).astype(int), ny - 2), np.minimum(np.floor(xs).astype(int), nx - 2)
    fy, fx = ys - iy, xs - ix
    pixels = np.stack([iy * nx + ix, iy * nx + ix + 1, (iy + 1) * nx + ix, (iy + 1) * nx + ix + 1], axis=1)
    weights = np.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], axis=1)
    return np.linspace(0.0, length, n), pixels, weights


def sample_line(frames, pixels, weights):
    """Values along a line (from :func:`line_sampler`) for frames (..., y, x) → (..., n)."""
    f = np.asarray(frames)
    flat = f.reshape(f.shape[:-2] + (-1,))
    return (flat[..., pixels] * weights).sum(axis=-1)


def parse_line(text: str):
    """``"major"``, ``"minor"`` or ``"y0,x0,y1,x1"`` (pixels) → what :func:`contrast_movie` takes."""
    t = text.strip().lower()
    if t in ("major", "minor"):
        return t
    try:
        y0, x0, y1, x1 = (float(v) for v in t.split(","))
    except ValueError:
        raise LithmapError(f"line={text!r} is invalid; expected 'major', 'minor' or y0,x0,y1,x1 in pixels") from None
    return (y0, x0), (y1, x1)
