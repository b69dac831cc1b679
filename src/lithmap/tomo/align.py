"""Alignment of a tilt series: the tilt-axis position and the shift of every projection.

Two steps, both standard in nanotomography:

1. **Centre of mass** (for an isolated particle inside the field of view). Tilting about ``y``
   leaves the ``y`` centre of mass of every projection unchanged, and moves the ``x`` centre
   of mass on ``u(θ) = u₀ + a cos θ − b sin θ`` (the particle's centre (b, a) in (z, x) about
   the axis at u₀). A least-squares fit of that curve gives the tilt-axis offset u₀ − centre,
   and each projection's departure from it (and from the mean ``y``) its jitter.
2. **Projection matching** (``refine`` rounds): reconstruct with the shifts so far, reproject,
   and register each measured projection to its reprojection by phase cross-correlation
   (scikit-image's ``phase_cross_correlation``, sub-pixel); the tilt axis is then re-fitted
   from the shifts' ``x`` part as in step 1.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError

__all__ = ["align_projections"]


def _shift_stack(values, sx, sy):
    """Shift every projection (…, angle, y, x) by (sy, sx) pixels (linear interpolation)."""
    from scipy import ndimage

    out = np.empty_like(values)
    lead = values.shape[:-3]
    for idx in np.ndindex(*lead) if lead else [()]:
        for k in range(values.shape[-3]):
            out[idx + (k,)] = ndimage.shift(values[idx + (k,)], (sy[k], sx[k]), order=1, mode="nearest")
    return out


def _com(img):
    total = img.sum(axis=(-2, -1))
    y = np.arange(img.shape[-2]) - (img.shape[-2] - 1) / 2
    x = np.arange(img.shape[-1]) - (img.shape[-1] - 1) / 2
    return (img.sum(-1) @ y) / total, (img.sum(-2) @ x) / total


def _axis_fit(theta, u):
    """Least-squares u(θ) = u0 + a cos θ − b sin θ; returns (u0, fitted curve)."""
    m = np.stack([np.ones_like(theta), np.cos(theta), -np.sin(theta)], axis=1)
    coef, *_ = np.linalg.lstsq(m, u, rcond=None)
    return float(coef[0]), m @ coef


def _recentre(theta, sx):
    """The x shifts less their least-squares part along cos θ and sin θ.

    Shifting projection θ by c·cos θ − d·sin θ moves the reconstructed particle by (c, d) in (x, z)
    and changes nothing else, so per-projection shifts leave the particle's position free; the
    centre-of-mass fit of :func:`_axis_fit` pins it with the tilt axis, and over a limited tilt
    range the constant and cos θ are so alike that random jitter moves it by a pixel or more. The
    smallest shifts (in the least-squares sense) keep the particle where the input shows it: the
    volume comes out in the input's frame."""
    m = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    coef, *_ = np.linalg.lstsq(m, sx, rcond=None)
    return sx - m @ coef


def _consistency(P, summed, rows, sx, sy, iterations):
    """Relative residual |A x − b| / |b| of a SIRT reconstruction of the rows ``rows`` shifted by (sx, sy)."""
    from .reconstruct import _field_of_view, _sirt

    n_ang, _, n_t = summed.shape
    cur = _shift_stack(summed[None][:, :, rows], sx, sy)[0]
    b = np.ascontiguousarray(cur.transpose(0, 2, 1)).reshape(n_ang * n_t, len(rows))
    fov = _field_of_view(P).astype(np.float32)[:, None, None]
    x = _sirt(P, b, np.zeros((P.n_voxels, 1, len(rows)), np.float32), fov, iterations, 1.0, None, 0, iterations)
    return float(np.linalg.norm(P.project(x.reshape(P.n_voxels, -1)) - b) / np.linalg.norm(b))


def _axis_search(P, summed, sx, sy, iterations, reach: int = 3):
    """The constant x shift (pixels) to add to ``sx`` that makes the tilt series most consistent:
    whole-pixel steps (so every candidate is interpolated alike) over ± ``reach``, then the vertex
    of a parabola through the best step and its neighbours."""
    rows = np.sort(np.argsort(summed.sum(axis=(0, 2)))[-min(8, summed.shape[1]):])
    steps = np.arange(-reach, reach + 1)
    res = np.array([_consistency(P, summed, rows, sx + k, sy, iterations) for k in steps])
    i = int(np.argmin(res))
    if i in (0, len(steps) - 1):
        return float(steps[i])
    r0, r1, r2 = res[i - 1: i + 2]
    den = r0 - 2 * r1 + r2
    return float(steps[i] + (0.5 * (r0 - r2) / den if den > 0 else 0.0))


def align_projections(projections, *, angles=None, refine: int = 2, iterations: int = 10) -> xr.DataArray:
    """Align a tilt series: correct the tilt-axis position and each projection's shift.

    Parameters
    ----------
    projections : xarray.DataArray or array_like
        (angle, y, x) or (energy, angle, y, x) optical densities of a particle inside the field
        of view (a spectral series is aligned on its sum over energies: one shift per angle).
    angles : array_like, optional
        Tilt angles in degrees (default: the ``angle`` coordinate).
    refine : int
        Rounds of projection matching after the centre-of-mass step (0: centre of mass only).
    iterations : int
        SIRT sweeps of each projection-matching reconstruction.

    Returns
    -------
    xarray.DataArray
        The aligned projections (sorted by angle), with coordinates ``shift_x`` and ``shift_y``
        (angle; the shifts applied, pixels) and the attr ``tilt_axis_offset``: how far (pixels)
        the tilt axis lay right of the detector's centre. The shifts put the tilt axis at the
        detector's centre and are otherwise the smallest that align the series (their parts along
        cos θ and sin θ, which only move the particle, removed; ``shift_y`` of mean zero), so the
        reconstruction sits where the input shows the particle.

    Examples
    --------
    >>> import lithmap as lm
    >>> ph = lm.particle_phantom(32, inclusions=0)
    >>> p = lm.project(ph["volume"], np.arange(-65, 66, 5.0))
    >>> moved = p.copy(data=np.roll(p.values, 2, axis=-1))          # the axis 2 pixels off
    >>> round(align_projections(moved, refine=0).attrs["tilt_axis_offset"], 1)
    2.0
    """
    from skimage.registration import phase_cross_correlation

    from .projector import build_projector
    from .reconstruct import _check_signal, _sirt, _visual_hull, check_projections

    if not (isinstance(refine, (int, np.integer)) and refine >= 0):
        raise LithmapError(f"refine={refine!r} must be a whole number ≥ 0")
    p = check_projections(projections, angles)
    _check_signal(p.values)
    ang = p["angle"].values
    theta = np.deg2rad(ang)
    vals = np.asarray(p.values, np.float32)
    summed = vals.reshape(-1, *vals.shape[-3:]).sum(axis=0)  # (angle, y, x)
    if not (summed.sum(axis=(1, 2)) > 0).all():
        raise LithmapError("a projection sums to zero or less; alignment needs optical densities (−ln I/I0) of a "
                           "particle in every projection")
    cy, cx = _com(np.clip(summed, 0, None))
    u0, fit = _axis_fit(theta, cx)
    sx = -(cx - fit) - u0
    sy = -(cy - cy.mean())
    n_ang, ny, n_t = summed.shape
    if refine:
        P = build_projector(n_t, n_t, n_t, theta, subsets=min(10, n_ang))
        # over a limited tilt range a constant shift and cos θ are nearly alike: the centre of mass
        # leaves the axis uncertain by about the jitter; the most consistent axis settles it
        sx = sx + _axis_search(P, summed, sx, sy, iterations)
        for _ in range(refine):
            cur = _shift_stack(summed[None], sx, sy)[0]
            b = np.ascontiguousarray(cur.transpose(0, 2, 1)).reshape(n_ang * n_t, ny)
            hull = _visual_hull(P, b.reshape(n_ang, n_t, ny), ny)
            x = _sirt(P, b, np.zeros((P.n_voxels, 1, ny), np.float32), hull[:, None, :].astype(np.float32),
                      iterations, 1.0, None, 0, iterations)
            rep = P.project(x.reshape(P.n_voxels, ny)).reshape(n_ang, n_t, ny).transpose(0, 2, 1)
            dy = np.zeros(n_ang)
            dx = np.zeros(n_ang)
            for k in range(n_ang):
                (dy[k], dx[k]), *_ = phase_cross_correlation(rep[k], cur[k], upsample_factor=20,
                                                             normalization=None)
            sy = sy + dy - np.mean(dy)
            sx = sx + dx
    sx = _recentre(theta, sx)
    # the constant part of the x shifts is the tilt axis; their cos/sin parts only move the particle
    u0 = -_axis_fit(theta, sx)[0]
    out = p.copy(data=_shift_stack(vals, sx, sy))
    out = out.assign_coords(shift_x=("angle", sx, {"units": "pixel", "long_name": "x shift applied"}),
                            shift_y=("angle", sy, {"units": "pixel", "long_name": "y shift applied"}))
    out.attrs["tilt_axis_offset"] = float(u0)
    return out
