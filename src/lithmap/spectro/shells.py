"""Statistics of a map or volume in equal-area (2D) or equal-volume (3D) shells (Liu, Zeng et al.,
Nat. Nanotechnol. 2024, Fig. 3b–e).

The particle is cut into ``n`` shells of equal area/volume from the surface inward
(:func:`lithmap.imaging.regions.equal_area_rings`): shell 0 holds the outermost 0–20 % of the
particle (for ``n=5``), shell 4 the innermost 80–100 %. :func:`shell_statistics` reduces any
field — a valence map, a composition volume, a stack of maps over time — to one value per shell;
:func:`shell_table` flattens the result into one row per shell (what ``lithmap shells`` writes).
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


_SPATIAL = ("z", "y", "x")


def shell_labels(n: int) -> list[str]:
    """``['0-20%', '20-40%', …]``: the area/volume fraction each of ``n`` shells covers.

    >>> shell_labels(4)
    ['0-25%', '25-50%', '50-75%', '75-100%']
    """
    return [f"{100 * k / n:g}-{100 * (k + 1) / n:g}%" for k in range(n)]


def _auto_particle(field, values, lead_axes):
    """``(mask, rule)`` for a field with no mask and no NaN (a reconstruction: outside = 0):
    spectra (a leading ``energy`` dim) by lithmap's edge-step rule, else Otsu's threshold of the
    values (their mean over any leading dims)."""
    if isinstance(field, xr.DataArray) and [d for d in field.dims if d not in _SPATIAL] == ["energy"] \
            and "energy" in field.coords:
        from .spectra import edge_mask

        em = edge_mask(field, dim="energy")
        return em.mask, f"auto: {em.rule}"
    v = values.mean(axis=lead_axes) if lead_axes else values
    if np.ptp(v) == 0:
        return np.ones(v.shape, bool), "auto: all pixels (a uniform field)"
    t = _otsu(v)
    return v > t, f"auto: value above its Otsu threshold {t:.4g}"


def _otsu(v, bins: int = 256) -> float:
    """Otsu's threshold, at the middle of the range of thresholds that share the largest
    between-class variance (scikit-image's takes its first: just above the background's noise
    when the histogram has an empty gap between background and particle)."""
    hist, edges = np.histogram(v, bins=bins)
    centres = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(hist)[:-1].astype(float)
    w1 = hist.sum() - w0
    s0 = np.cumsum(hist * centres)[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        m0, m1 = s0 / w0, (np.sum(hist * centres) - s0) / w1
        between = w0 * w1 * (m0 - m1) ** 2
    between = np.nan_to_num(between, nan=-1.0)
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))
    i = best[best.size // 2]
    return float(edges[i + 1])


def _field_and_mask(field, mask):
    """A DataArray with ≥ 2 of the dims z, y, x gets them last (in its own order); without a
    ``mask`` the particle is the field's ``mask`` coordinate, else its finite pixels, else (no
    NaN at all) an automatic mask. Returns ``(field, mask, rule)``."""
    rule = "mask given"
    if isinstance(field, xr.DataArray):
        spatial = [d for d in field.dims if d in _SPATIAL]
        lead = []
        if len(spatial) >= 2:
            lead = [d for d in field.dims if d not in spatial]
            field = field.transpose(*lead, *spatial)
        elif mask is None:
            raise LithmapError(f"field has dims {field.dims}; shells need a map (y, x) or a volume (z, y, x)")
        if mask is None:
            own = field.coords.get("mask")
            if own is not None and own.ndim == len(spatial) and set(own.dims) == set(spatial):
                mask, rule = field["mask"].transpose(*spatial).values.astype(bool), "the result's mask"
            else:
                values = np.asarray(field.values, float)
                axes = tuple(range(len(lead)))
                finite = np.isfinite(values).any(axis=axes) if lead else np.isfinite(values)
                if finite.all():
                    mask, rule = _auto_particle(field.drop_vars("mask", errors="ignore"), values, axes)
                else:
                    mask, rule = finite, "the finite pixels"
        if "mask" in field.coords:
            field = field.drop_vars("mask")
        return field, mask, rule
    if mask is None:
        values = np.asarray(field, float)
        if values.ndim not in (2, 3):
            raise LithmapError(f"field has shape {values.shape}; without a mask, shells need a 2D map or a 3D volume")
        finite = np.isfinite(values)
        mask, rule = (_auto_particle(None, values, ()) if finite.all() else (finite, "the finite pixels"))
    return field, mask, rule


def shell_statistics(field, mask=None, n: int = 5, *, stats=("mean", "std", "median", "count"),
                     fill_holes: bool = True) -> xr.Dataset:
    """Reduce ``field`` to statistics in ``n`` equal-area/equal-volume shells of ``mask``.

    Parameters
    ----------
    field : array_like or xarray.DataArray, shape (..., *mask.shape)
        The values; any leading dims (time, standard, element …) are kept. A DataArray keeps
        its leading dims' names, coords and its ``units``, and its spatial dims (two or three
        of ``z``, ``y``, ``x``, e.g. from :func:`lithmap.read_field`) may be anywhere; a plain
        array's leading dims are called ``dim_0``, ``dim_1`` …. NaN values are ignored (not
        counted).
    mask : array_like of bool, 2D or 3D, optional
        The particle; shells are measured from its surface inward. Default: the field's
        ``mask`` coordinate (a result's mask, as :func:`lithmap.read_field` attaches it), else
        the pixels that are finite at some leading index, else — a field with no NaN at all,
        such as a reconstruction whose outside is 0 — an automatic mask: for spectra (a leading
        ``energy`` dim) the pixels with an edge (:func:`lithmap.spectro.spectra.edge_mask`, the
        rule of ``lcf`` and ``clusters``), otherwise the values above their Otsu threshold. A
        plain array without a mask must be one 2D map or 3D volume.
    n : int
        Number of shells (default 5: 0–20 %, …, 80–100 %).
    stats : sequence of str
        Any of ``mean``, ``std`` (ddof=0), ``median``, ``min``, ``max``, ``sum``, ``count``.
    fill_holes : bool
        Measure the shells in the mask with its enclosed holes filled
        (``scipy.ndimage.binary_fill_holes``), so that an internal void or crack is not a
        surface; the statistics still cover only the mask's own pixels (default). False: the
        holes' walls count as surface.

    Returns
    -------
    xarray.Dataset
        One variable per statistic on dims (leading dims…, ``shell``); coords ``shell`` (0 =
        outermost), ``fraction_outer``/``fraction_inner`` (the shell's bounds as a fraction of
        the area/volume counted from the surface), ``label`` (e.g. ``"0-20%"``) and ``size``
        (pixels/voxels of the mask in the shell). A shell with no finite value gives NaN (count
        0). Attrs ``shells``, ``mask_rule`` (which mask was used) and ``holes_filled`` (0/1).

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

    Without a mask, the finite pixels are the particle:

    >>> ds = shell_statistics(np.where(r <= 40, r, np.nan), n=2)
    >>> ds["size"].values.tolist()
    [2513, 2512]
    """
    field, mask, rule = _field_and_mask(field, mask)
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
    if not m.any():
        raise LithmapError("the mask is empty: no particle pixel")
    envelope = m
    if fill_holes:
        from scipy import ndimage

        envelope = ndimage.binary_fill_holes(m)
    shells = equal_area_rings(envelope, n)
    if envelope is not m:
        shells = np.where(m, shells, -1)
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
        fraction_outer=("shell", np.arange(n) / n,
                        {"long_name": "outer bound: fraction of the particle from the surface", "units": "1"}),
        fraction_inner=("shell", np.arange(1, n + 1) / n,
                        {"long_name": "inner bound: fraction of the particle from the surface", "units": "1"}),
        label=("shell", shell_labels(n)),
        size=("shell", size, {"long_name": f"{'voxels' if m.ndim == 3 else 'pixels'} in the shell"}),
    )
    word = "volume" if m.ndim == 3 else "area"
    holes = int(np.count_nonzero(envelope & ~m))
    attrs = {"shells": f"{n} equal-{word} shells from the surface inward", "mask_rule": rule,
             "holes_filled": int(bool(fill_holes)), "hole_pixels": holes}
    if fill_holes and holes:
        attrs["shells"] += f" of the particle with its {holes} enclosed hole pixels filled (not counted)"
    return xr.Dataset(data, coords=coords, attrs=attrs)


def shell_table(ds: xr.Dataset):
    """One row per shell (and per index of any leading dims) of :func:`shell_statistics`' result.

    Parameters
    ----------
    ds : xarray.Dataset
        The output of :func:`shell_statistics`.

    Returns
    -------
    pandas.DataFrame
        Columns: the leading dims (their coordinate values, or indices, as text), ``shell``,
        ``label``, ``fraction_outer``, ``fraction_inner``, ``size`` and the statistics
        (``mean``, ``std``, ``median``, ``count`` as computed); what ``lithmap shells`` writes.

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[-20:21, -20:21]
    >>> r = np.hypot(y, x)
    >>> table = shell_table(shell_statistics(r, r <= 15, 3))
    >>> list(table.columns)
    ['shell', 'label', 'fraction_outer', 'fraction_inner', 'size', 'mean', 'std', 'median', 'count']
    >>> table["label"].tolist()
    ['0-33.3333%', '33.3333-66.6667%', '66.6667-100%']
    """
    import pandas as pd

    stats = [v for v in ("mean", "std", "median", "min", "max", "sum", "count") if v in ds]
    if "shell" not in ds.dims or not stats:
        raise LithmapError("shell_table needs the Dataset of shell_statistics (a 'shell' dim and statistics)")
    lead = [d for d in ds[stats[0]].dims if d != "shell"]
    rows = []
    for idx in np.ndindex(*[ds.sizes[d] for d in lead]):
        sel = dict(zip(lead, idx))
        for k in range(ds.sizes["shell"]):
            sub = ds.isel(shell=k, **sel)
            rows.append([*[str(ds[d].values[i]) if d in ds.coords else str(i) for d, i in zip(lead, idx)], k,
                         str(sub["label"].values), float(sub["fraction_outer"]), float(sub["fraction_inner"]),
                         int(sub["size"]), *[float(sub[v]) for v in stats]])
    return pd.DataFrame(rows, columns=[*lead, "shell", "label", "fraction_outer", "fraction_inner", "size", *stats])
