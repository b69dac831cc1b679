"""Figures of volumes: three orthogonal slices through a point (by default the middle), on one
colour scale, each with a scale bar — the way nanotomograms are shown (Liu, Zeng et al.,
Nat. Nanotechnol. 2024, Fig. 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.images import pixel_size_of
from .maps import _plt, _scale_bar
from .plots import save_figure

__all__ = ["plot_volume"]


def plot_volume(volume, path, *, title: str, label: str, pixel_size: float | None = None, cmap: str = "gray",
                point=None) -> Path:
    """Orthogonal slices (x–y at one z, x–z at one y, z–y at one x) of a volume with a colour bar
    and a scale bar.

    Parameters
    ----------
    volume : array_like or xarray.DataArray
        The volume (z, y, x); a DataArray's ``x`` in m (or ``pixel_size`` attr) gives the scale.
    path : str or Path
        The PNG to write.
    title, label : str
        Figure title and colour-bar label.
    pixel_size : float, optional
        Voxel edge in m (no scale bar without one).
    cmap : str
        Matplotlib colour map.
    point : (int, int, int), optional
        The voxel (z, y, x) the slices go through; default the middle.

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
    if isinstance(volume, xr.DataArray) and set(volume.dims) == {"z", "y", "x"}:
        volume = volume.transpose("z", "y", "x")
    a = np.asarray(volume, float)
    if a.ndim != 3:
        raise LithmapError(f"volume has shape {a.shape}; expected (z, y, x)")
    cz, cy, cx = (s // 2 for s in a.shape) if point is None else (int(p) for p in point)
    slices = [(a[cz], f"x–y at z = {cz}", ("x", "y")), (a[:, cy, :], f"x–z at y = {cy}", ("x", "z")),
              (a[:, :, cx].T, f"z–y at x = {cx}", ("z", "y"))]
    finite = a[np.isfinite(a)]
    lo, hi = (np.percentile(finite, (0.5, 99.5)) if finite.size else (0.0, 1.0))
    plt = _plt()
    widths = [s[0].shape[1] for s in slices]
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.8), gridspec_kw={"width_ratios": widths})
    for ax, (img, name, (hx, vy)) in zip(axes, slices):
        im = ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
        _scale_bar(ax, img.shape, pixel_size)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(hx, fontsize=8)
        ax.set_ylabel(vy, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(axes), label=label, shrink=0.8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=120)
