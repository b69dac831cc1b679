"""Statistics of a map or volume in equal-area (2D) or equal-volume (3D) shells (seed2, Fig. 3b–e).

The particle is cut into ``n`` shells of equal area/volume from the surface inward
(:func:`lithmap.imaging.regions.equal_area_rings`): shell 0 holds the outermost 0–20 % of the
particle (for ``n=5``), shell 4 the innermost 80–100 %. :func:`shell_statistics` reduces any
field — a valence map, a composition volume, a stack of maps over time — to one value per shell.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..imaging.regions import equal_area_rings

_STATS = {
    "mean": np.nanmean,
    "std": np.nanstd,
    "median": np.nanmedian,
    "min": np.nanmin,
    "max": np.nanmax,
    "sum": np.nansum,
}
_LONG = {
    "mean": "mean per shell",
    "std": "standard deviation per shell (ddof=0)",
    "median": "median per shell",
    "min": "minimum per shell",
    "max": "maximum per shell",
    "sum": "sum per shell",
    "count": "number of finite pixels/voxels per shell",
}


def shell_labels(n: int) -> list[str]:
    """``['0-20%', '20-40%', …]``: the area/volume fraction each of ``n`` shells covers."""
    return [f"{100 * k / n:g}-{100 * (k + 1) / n:g}%" for k in range(n)]


def shell_statistics(field, mask, n: int = 5, *, stats=("mean", "std", "median", "count")) -> xr.Dataset:
    """Reduce ``field`` to statistics in ``n`` equal-area/equal-volume shells of ``mask``.

    Parameters
    ----------
    field : array_like or xarray.DataArray, shape (..., *mask.shape)
        The values; any leading dims (time, standard, element …) are kept. A DataArray keeps
        its leading dims' names, coords and its ``units``; a plain array's leading dims are
        called ``dim_0``, ``dim_1`` …. NaN values are ignored (not counted).
    mask : array_like of bool, 2D or 3D
        The particle; shells are measured from its surface inward.
    n : int
        Number of shells (default 5: 0–20 %, …, 80–100 %).
    stats : sequence of str
        Any of ``mean``, ``std`` (ddof=0), ``median``, ``min``, ``max``, ``sum``, ``count``.

    Returns
    -------
    xarray.Dataset
        One variable per statistic on dims (leading dims…, ``shell``); coords ``shell`` (0 =
        outermost), ``fraction_outer``/``fraction_inner`` (the shell's bounds as a fraction of
        the area/volume counted from the surface), ``label`` (e.g. ``"0-20%"``) and ``size``
        (pixels/voxels in the shell). A shell with no finite value gives NaN (count 0).

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[-50:51, -50:51]
    >>> r = np.hypot(y, x)
    >>> ds = shell_statistics(r, r <= 40, 5)
    >>> ds["label"].values.tolist()
    ['0-20%', '20-40%', '40-60%', '60-80%', '80-100%']
    >>> bool((np.diff(ds["mean"].values) < 0).all())  # the radius falls from the surface inward
    True
    """
    m = np.asarray(mask, bool)
    if m.ndim not in (2, 3):
        raise LithmapError(f"mask has shape {m.shape}; expected a 2D map or a 3D volume")
    unknown = [s for s in stats if s != "count" and s not in _STATS]
    if unknown or not len(stats):
        raise LithmapError(f"stats={list(stats)!r}: unknown {unknown!r}; choose from {sorted([*_STATS, 'count'])}")
    if isinstance(field, xr.DataArray):
        da = field
        values = np.asarray(da.values, float)
    else:
        da = None
        values = np.asarray(field, float)
    if values.ndim < m.ndim or values.shape[values.ndim - m.ndim:] != m.shape:
        raise LithmapError(f"field has shape {values.shape}; its last dims must match the mask's shape {m.shape}")
    shells = equal_area_rings(m, n)
    lead_shape = values.shape[: values.ndim - m.ndim]
    flat = values.reshape(lead_shape + (-1,))
    idx = shells.ravel()
    out = {s: np.empty(lead_shape + (n,)) for s in stats}
    size = np.bincount(idx[idx >= 0], minlength=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN shell gives NaN, as documented
        for k in range(n):
            v = flat[..., idx == k]
            for s in stats:
                out[s][..., k] = np.isfinite(v).sum(axis=-1) if s == "count" else _STATS[s](v, axis=-1)
    if da is not None:
        lead_dims = tuple(da.dims[: len(lead_shape)])
        coords = {c: da.coords[c] for c in da.coords if set(da.coords[c].dims) <= set(lead_dims)}
        units = da.attrs.get("units")
    else:
        lead_dims = tuple(f"dim_{i}" for i in range(len(lead_shape)))
        coords, units = {}, None
    dims = lead_dims + ("shell",)
    data = {}
    for s in stats:
        attrs = {"long_name": _LONG[s]}
        if s == "count":
            attrs["units"] = "1"
            arr = out[s].astype(np.int64)
        else:
            arr = out[s]
            if units is not None:
                attrs["units"] = units
        data[s] = (dims, arr, attrs)
    coords.update(
        shell=("shell", np.arange(n), {"long_name": "shell from the surface (0) inward"}),
        fraction_outer=("shell", np.arange(n) / n, {"long_name": "outer bound: fraction of the particle from the surface", "units": "1"}),
        fraction_inner=("shell", np.arange(1, n + 1) / n, {"long_name": "inner bound: fraction of the particle from the surface", "units": "1"}),
        label=("shell", shell_labels(n)),
        size=("shell", size, {"long_name": f"{'voxels' if m.ndim == 3 else 'pixels'} in the shell"}),
    )
    return xr.Dataset(data, coords=coords, attrs={"shells": f"{n} equal-{'volume' if m.ndim == 3 else 'area'} shells from the surface inward"})
