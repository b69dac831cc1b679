"""The figure of a spectral-cluster result: the cluster map (or the middle slice of a volume) beside
the cluster spectra, in matching colours (as MANTiS shows them; Lerotic et al., J. Synchrotron
Rad. 2014)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..io.images import pixel_size_of
from .maps import _plt, _scale_bar
from .plots import save_figure

_COLOURS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
            "tab:cyan", "tab:gray"]


def plot_clusters(ds: xr.Dataset, path, *, title: str = "spectral clusters", pixel_size: float | None = None) -> Path:
    """Cluster map beside the cluster spectra.

    Parameters
    ----------
    ds : xarray.Dataset
        The output of :func:`lithmap.spectral_clusters`: ``cluster`` (y, x) or (z, y, x), −1 for
        background, and ``cluster_spectrum`` (cluster, energy); ``cluster_fraction`` and
        ``cluster_mean_valence`` label the spectra when present.
    path : str or Path
        The PNG to write.
    title : str
        Title of the map panel.
    pixel_size : float, optional
        Pixel size in m for the scale bar (default: from the ``x`` coordinate when in m).

    Returns
    -------
    pathlib.Path
        The figure written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> ds = xr.Dataset({"cluster_spectrum": (("cluster", "energy"), [[0, 1, 1.0], [0, 0.5, 1.0]])},
    ...                 coords={"energy": [6530.0, 6550.0, 6570.0], "cluster": (("y", "x"), np.eye(4, dtype=int))})
    >>> plot_clusters(ds, pathlib.Path(tempfile.mkdtemp()) / "clusters.png").exists()
    True
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap

    plt = _plt()
    lab = ds["cluster"]
    if pixel_size is None:
        pixel_size = pixel_size_of(lab)
    a = np.asarray(lab.values)
    if a.ndim == 3:
        a = a[a.shape[0] // 2]
        title = f"{title} (middle slice)"
    if a.ndim != 2:
        from ..errors import LithmapError

        raise LithmapError(f"cluster has dims {lab.dims}; a figure needs a map (y, x) or a volume (z, y, x)")
    spec = ds["cluster_spectrum"]
    k = spec.sizes["cluster"]
    colours = [_COLOURS[i % len(_COLOURS)] for i in range(k)]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.2, 4.0), gridspec_kw={"width_ratios": [1, 1.15]})
    cm = ListedColormap(["#f2f2f2"] + colours)
    norm = BoundaryNorm(np.arange(k + 2) - 1.5, cm.N)
    im = ax.imshow(np.where(a >= 0, a, -1), cmap=cm, norm=norm, interpolation="nearest")
    every = max(1, k // 10)  # at most ~10 labelled ticks, so large K stays readable
    ticks = [-1] + list(range(0, k, every))
    cb = fig.colorbar(im, ax=ax, ticks=ticks, shrink=0.8)
    cb.ax.set_yticklabels(["none"] + [str(i) for i in ticks[1:]])
    cb.set_label("cluster")
    _scale_bar(ax, a.shape, pixel_size)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    e = spec["energy"].values
    for i in range(k):
        label = f"cluster {i}"
        if "cluster_fraction" in ds:
            label += f" ({100 * float(ds['cluster_fraction'][i]):.1f} %)"
        if "cluster_mean_valence" in ds:
            label += f", valence {float(ds['cluster_mean_valence'][i]):.2f}"
        bx.plot(e, spec.isel(cluster=i).values, color=colours[i], lw=1.4, label=label)
    bx.set_xlabel("energy (eV)")
    bx.set_ylabel("normalised absorption")
    bx.set_title("cluster spectra", fontsize=9)
    if k <= 12:
        bx.legend(fontsize=7, frameon=False)
    else:  # a legend of many entries would cover the spectra: put it beside them
        bx.legend(fontsize=6, frameon=False, bbox_to_anchor=(1.02, 1), loc="upper left", ncol=1 + k // 25)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
