"""Figures of volumes: three orthogonal slices through a point (by default the middle), on one
colour scale, with axes in µm or nm, each slice's plane and position named, and a scale bar —
the way nanotomograms are shown (Liu, Zeng et al., Nat. Nanotechnol. 2024, Fig. 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.images import pixel_size_of
from .maps import _plt
from .plots import save_figure

__all__ = ["plot_volume"]


def _length_unit(extent_m: float):
    """(factor from m, name) for axis labels: µm for a volume ≥ 1 µm across, else nm."""
    return (1e6, "µm") if extent_m >= 1e-6 else (1e9, "nm")


def _nice_length(width_m: float) -> float:
    """A round length (1, 2 or 5 × 10ⁿ m) of at most a quarter of ``width_m``."""
    nice = 10 ** np.floor(np.log10(width_m / 5))
    for f in (5, 2, 1):
        if f * nice <= width_m / 4:
            return f * nice
    return nice


def _scale_bar(ax, extent, length, factor, unit):
    """A white bar with a black outline (visible on the dark background of a reconstruction) and
    its length, in the lower left corner; ``extent`` = (left, right, bottom, top) in display units."""
    import matplotlib.patheffects as pe

    left, right, bottom, top = extent
    w, h = right - left, bottom - top  # the vertical axis runs downward (image rows)
    x0, y0 = left + 0.06 * w, bottom - 0.08 * h
    outline = [pe.Stroke(linewidth=5, foreground="k"), pe.Normal()]
    ax.plot([x0, x0 + length * factor], [y0, y0], "-", color="w", lw=3, path_effects=outline, solid_capstyle="butt")
    text = ax.text(x0 + length * factor / 2, y0 - 0.04 * h, f"{length * factor:g} {unit}", ha="center", va="bottom",
                   fontsize=8, color="w")
    text.set_path_effects([pe.withStroke(linewidth=2, foreground="k")])


def plot_volume(volume, path, *, title: str, label: str, pixel_size: float | None = None, cmap: str = "gray",
                point=None, per_voxel: bool = False) -> Path:
    """Orthogonal slices of a volume (normal to z, y and x through one point) with axes in µm or nm,
    a scale bar and a colour bar.

    Parameters
    ----------
    volume : array_like or xarray.DataArray
        The volume (z, y, x); a DataArray's ``x`` in m (or ``pixel_size`` attr) gives the scale,
        and its ``z``, ``y``, ``x`` coordinates in m the positions.
    path : str or Path
        The PNG to write.
    title, label : str
        Figure title and colour-bar label (the quantity, without units when ``per_voxel``).
    pixel_size : float, optional
        Voxel edge in m (without one: axes in voxels, no scale bar).
    cmap : str
        Matplotlib colour map.
    point : (int, int, int), optional
        The voxel (z, y, x) the slices go through; default the middle.
    per_voxel : bool
        The values are per voxel (a reconstruction's optical density per voxel): shown per µm
        (divided by the voxel edge: the linear attenuation coefficient, µm⁻¹), or labelled "per
        voxel" without a voxel size.

    Returns
    -------
    pathlib.Path
        The figure written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "slices.png"
    >>> plot_volume(np.random.rand(8, 9, 10), out, title="a volume", label="value", pixel_size=20e-9).exists()
    True
    """
    if pixel_size is None:
        pixel_size = pixel_size_of(volume)
    origin = {"z": 0.0, "y": 0.0, "x": 0.0}
    if isinstance(volume, xr.DataArray) and set(volume.dims) == {"z", "y", "x"}:
        volume = volume.transpose("z", "y", "x")
        for d in origin:
            if d in volume.coords and volume[d].attrs.get("units") == "m" and pixel_size:
                origin[d] = float(volume[d].values[0])
    a = np.asarray(volume, float)
    if a.ndim != 3:
        raise LithmapError(f"volume has shape {a.shape}; expected (z, y, x)")
    n = dict(zip(("z", "y", "x"), a.shape))
    pz, py, px = (s // 2 for s in a.shape) if point is None else (int(p) for p in point)
    if not all(0 <= i < s for i, s in zip((pz, py, px), a.shape)):
        raise LithmapError(f"point {(pz, py, px)} is outside the volume {a.shape} (z, y, x)")
    if pixel_size:
        factor, unit = _length_unit(max(a.shape) * pixel_size)
        step = pixel_size * factor
    else:
        factor, unit, step = 1.0, "voxels", 1.0

    def pos(d, i):  # the centre of voxel i along d, in display units
        return origin[d] * factor + i * step

    def edges(d):  # (first edge, last edge) along d
        return pos(d, 0) - step / 2, pos(d, n[d] - 1) + step / 2

    fmt = (lambda v: f"{v:.3g} {unit}") if pixel_size else (lambda v: f"{v:g}")
    slices = [(a[pz], "z", pz, ("x", "y")), (a[:, py, :], "y", py, ("x", "z")), (a[:, :, px].T, "x", px, ("z", "y"))]
    if per_voxel and pixel_size:
        a_scale = 1 / (pixel_size * 1e6)
        edge = f"{pixel_size * 1e9:.3g} nm"
        label = f"{label} (µm⁻¹)\n= optical density per voxel ÷ {edge}"
    else:
        a_scale = 1.0
        if per_voxel:
            label = f"{label} (optical density per voxel)"
    finite = a[np.isfinite(a)]
    lo, hi = (np.percentile(finite, (0.5, 99.5)) * a_scale if finite.size else (0.0, 1.0))
    plt = _plt()
    widths = [s[0].shape[1] for s in slices]
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 4.2), gridspec_kw={"width_ratios": widths}, layout="constrained")
    marks = {"z": pz, "y": py, "x": px}
    for ax, (img, normal, idx, (hx, vy)) in zip(axes, slices):
        (h0, h1), (v0, v1) = edges(hx), edges(vy)
        extent = (h0, h1, v1, v0)  # rows run downward, as in the images
        im = ax.imshow(img * a_scale, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest",
                       extent=extent)
        # where the other two slices cut this one
        ax.axvline(pos(hx, marks[hx]), color="tab:orange", lw=0.6, ls="--", alpha=0.8)
        ax.axhline(pos(vy, marks[vy]), color="tab:orange", lw=0.6, ls="--", alpha=0.8)
        if pixel_size:
            _scale_bar(ax, extent, _nice_length(n[hx] * pixel_size), factor, unit)
        ax.set_title(f"{vy}–{hx} slice, normal to {normal}\nat {normal} = {fmt(pos(normal, idx))}", fontsize=9)
        ax.set_xlabel(f"{hx} ({unit})", fontsize=8)
        ax.set_ylabel(f"{vy} ({unit})", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.colorbar(im, ax=list(axes), label=label, shrink=0.85)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=120)
