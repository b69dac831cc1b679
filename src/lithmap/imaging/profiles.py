"""Line profiles through a particle as sparse sampling operators.

A profile is a fixed linear map from a frame to the values along a line (bilinear
interpolation at points 1 px apart): :func:`line_sampler` builds it once as four pixel indices
and weights per point, and :func:`sample_line` applies it to any number of frames with one
gather. :func:`axis_line` gives the particle's
major or minor axis through its centroid (Xu, Merryweather et al., Joule 2022, Fig. 3E uses a
line across the particle).
"""

from __future__ import annotations

import numpy as np

from ..errors import LithmapError


def axis_line(mask, which: str = "major"):
    """End points of the particle's major or minor axis through its centroid.

    Parameters
    ----------
    mask : array_like of bool (y, x)
        The particle.
    which : "major" or "minor"
        The axis; each is as long as the particle's moment-equivalent ellipse.

    Returns
    -------
    ((y0, x0), (y1, x1)) : tuple of float pairs
        End points in pixels.

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[0:40, 0:60]
    >>> (y0, x0), (y1, x1) = axis_line(((y - 20) / 10) ** 2 + ((x - 30) / 20) ** 2 <= 1)
    >>> round(y0), round(x0), round(y1), round(x1)      # along x, 2 × 20 px long
    (20, 10, 20, 50)
    """
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
    """A line profile as a sparse sampling operator (built once, applied to every frame).

    Points 1 px apart from ``start`` to ``end`` (both included, ``ceil(length) + 1`` points, as
    :func:`skimage.measure.profile_line` with ``order=1``); points outside the image take the
    nearest edge pixel.

    Parameters
    ----------
    shape : (int, int)
        Image shape (ny, nx).
    start, end : (float, float)
        End points (y, x) in pixels.

    Returns
    -------
    distance : numpy.ndarray (n,)
        Distance of each point from ``start``, pixels.
    pixels : numpy.ndarray of int (n, 4)
        Flat indices of the four pixels around each point.
    weights : numpy.ndarray (n, 4)
        Their bilinear weights (summing to 1).

    Examples
    --------
    >>> distance, pixels, weights = line_sampler((10, 10), (2, 1), (2, 4))
    >>> distance.tolist(), pixels[0].tolist(), weights.sum(axis=1).tolist()
    ([0.0, 1.0, 2.0, 3.0], [21, 22, 31, 32], [1.0, 1.0, 1.0, 1.0])
    """
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
    """Values along a line (from :func:`line_sampler`) for any number of frames, in one gather.

    Parameters
    ----------
    frames : array_like (..., y, x)
        One frame or a stack.
    pixels, weights : numpy.ndarray (n, 4)
        From :func:`line_sampler`.

    Returns
    -------
    numpy.ndarray (..., n)

    Examples
    --------
    >>> import numpy as np
    >>> frame = np.arange(100.0).reshape(10, 10)
    >>> sample_line(frame, *line_sampler(frame.shape, (2, 1), (2, 4))[1:]).tolist()
    [21.0, 22.0, 23.0, 24.0]
    """
    f = np.asarray(frames)
    flat = f.reshape(f.shape[:-2] + (-1,))
    return (flat[..., pixels] * weights).sum(axis=-1)


def parse_line(text: str):
    """Read a profile line as given on the command line.

    Parameters
    ----------
    text : str
        ``"major"``, ``"minor"`` or ``"y0,x0,y1,x1"`` (pixels).

    Returns
    -------
    str or ((y0, x0), (y1, x1))
        What :func:`lithmap.contrast_movie` takes as ``line``.

    Examples
    --------
    >>> parse_line("minor"), parse_line("10, 5, 30, 45")
    ('minor', ((10.0, 5.0), (30.0, 45.0)))
    """
    t = text.strip().lower()
    if t in ("major", "minor"):
        return t
    try:
        y0, x0, y1, x1 = (float(v) for v in t.split(","))
    except ValueError:
        raise LithmapError(f"line={text!r} is invalid; expected 'major', 'minor' or y0,x0,y1,x1 in pixels") from None
    return (y0, x0), (y1, x1)
