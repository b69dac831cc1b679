"""Figures of maps and volumes (a colour bar, a µm scale bar; the middle slice of a volume) and
of shell profiles (mean ± std from the surface inward)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..io.images import pixel_size_of
from .plots import save_figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _scale_bar(ax, shape, pixel_size):
    """A bar of a round length (≈ a fifth of the width) in the lower left corner."""
    if not pixel_size:
        return
    width_m = shape[1] * pixel_size
    nice = 10 ** np.floor(np.log10(width_m / 5))
    for f in (5, 2, 1):
        if f * nice <= width_m / 4:
            nice *= f
            break
    bar = nice / pixel_size
    y = shape[0] - 0.08 * shape[0]
    ax.plot([0.05 * shape[1], 0.05 * shape[1] + bar], [y, y], "k-", lw=3)
    label = f"{nice * 1e6:g} µm" if nice >= 1e-6 else f"{nice * 1e9:g} nm"
    ax.text(0.05 * shape[1] + bar / 2, y - 0.04 * shape[0], label, ha="center", fontsize=8)


def plot_map(values, path, *, title: str, label: str, pixel_size: float | None = None, cmap: str = "viridis",
             centred: bool = False, categories: dict | None = None) -> Path:
    """One 2D map (or the middle z-slice of a 3D volume) with a colour bar and a scale bar.

    Parameters
    ----------
    values : array_like or xarray.DataArray
        The map (y, x) or volume (z, y, x). A DataArray whose ``x`` coordinate is in m gives
        the scale bar's pixel size when ``pixel_size`` is not given.
    path : str or Path
        The PNG to write.
    title, label : str
        Figure title and colour-bar label.
    pixel_size : float, optional
        Pixel size in m (no scale bar without one).
    cmap : str
        Matplotlib colour map.
    centred : bool
        A diverging map centred on zero (limits ± the 99th percentile of |value|).
    categories : dict, optional
        value → name: a discrete map with a legend-like colour bar.

    Returns
    -------
    pathlib.Path
        The figure written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "map.png"
    >>> plot_map(np.eye(8), out, title="a map", label="value", pixel_size=50e-9).exists()
    True
    """
    plt = _plt()
    if pixel_size is None:
        pixel_size = pixel_size_of(values)
    a = np.asarray(values, float)
    if a.ndim == 3:
        a = a[a.shape[0] // 2]
        title = f"{title} (middle slice)"
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    if categories:
        from matplotlib.colors import BoundaryNorm, ListedColormap

        keys = sorted(categories)
        cm = ListedColormap(["tab:green", "tab:red", "tab:blue", "tab:orange"][: len(keys)])
        norm = BoundaryNorm(np.arange(len(keys) + 1) - 0.5, cm.N)
        idx = np.full(a.shape, np.nan)
        for i, k in enumerate(keys):
            idx[a == k] = i
        im = ax.imshow(idx, cmap=cm, norm=norm, interpolation="nearest")
        cb = fig.colorbar(im, ax=ax, ticks=range(len(keys)), shrink=0.8)
        cb.ax.set_yticklabels([categories[k] for k in keys])
    else:
        finite = a[np.isfinite(a)]
        if centred and finite.size:
            lim = float(np.nanpercentile(np.abs(finite), 99)) or 1.0
            im = ax.imshow(a, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        else:
            im = ax.imshow(a, cmap=cmap, interpolation="nearest")
        fig.colorbar(im, ax=ax, label=label, shrink=0.8)
    _scale_bar(ax, a.shape, pixel_size)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def plot_shells(ds: xr.Dataset, path, *, label: str) -> Path:
    """Shell means (± std) from the surface (left) to the centre, one line per leading index
    (the first 12).

    Parameters
    ----------
    ds : xarray.Dataset
        The output of :func:`lithmap.shell_statistics` (``mean``, optionally ``std``).
    path : str or Path
        The PNG to write.
    label : str
        The y-axis label (what the field is).

    Returns
    -------
    pathlib.Path
        The figure written.

    Examples
    --------
    >>> import pathlib, tempfile, lithmap
    >>> y, x = np.mgrid[-20:21, -20:21]
    >>> r = np.hypot(y, x)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "shells.png"
    >>> plot_shells(lithmap.shell_statistics(r, r <= 15, 3), out, label="radius").exists()
    True
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    mean = ds["mean"]
    x = np.arange(ds.sizes["shell"])
    lead = [d for d in mean.dims if d != "shell"]
    flat_mean = mean.transpose(*lead, "shell").values.reshape(-1, x.size)
    flat_std = ds["std"].transpose(*lead, "shell").values.reshape(-1, x.size) if "std" in ds else None
    for k, row in enumerate(flat_mean[:12]):
        ax.errorbar(x, row, yerr=None if flat_std is None else flat_std[k], marker="o", capsize=3)
    ax.set_xticks(x, [str(v) for v in ds["label"].values], fontsize=8)
    ax.set_xlabel("shell (share of the area/volume from the surface)")
    ax.set_ylabel(label)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
