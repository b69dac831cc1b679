"""Pores and cracks inside a particle from a tomography volume (Liu, Zeng et al., Nat. Nanotechnol.
2024, Fig. 5a–c).

- :func:`local_thickness`: per void voxel, the diameter of the largest ball that fits in the
  void and covers it (Hildebrand & Rüegsegger's local thickness; distance-transform method);
- :func:`pore_analysis`: porosity inside the particle envelope, pore labels, the size of each
  pore (volume, equivalent diameter, local thickness), the pore-size distribution and the
  connectivity of the void: the share in the largest connected network, and the share that
  reaches the particle's surface (open cracks) against isolated internal pores.

Works for 2D slices (areas, circles) and 3D volumes (volumes, spheres) alike.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.units import UNIT_SPELLING, optional_quantity

_PIXEL = UNIT_SPELLING["pixel"]  # the unit of lengths, areas and volumes counted in voxels


def _structure(ndim: int, connectivity: int):
    from scipy import ndimage

    if connectivity not in range(1, ndim + 1):
        raise LithmapError(f"connectivity={connectivity!r}; use 1 (faces) … {ndim} (all neighbours)")
    return ndimage.generate_binary_structure(ndim, connectivity)


def local_thickness(void, *, voxel_size: float | None = None) -> np.ndarray:
    """Local thickness of the ``void`` phase: 0 elsewhere.

    A digital ball of radius r (the voxels closer than r to its centre voxel) spans 2r − 1
    voxels along an axis; each void voxel gets 2r − 1 for the largest integer r whose ball
    fits in the void (its centre at least r from every non-void voxel centre) and covers the
    voxel. A slab pore of odd width w voxels gets exactly w, of even width w − 1 (balls are
    centred on voxels); a one-voxel crack gets 1. Outside the array counts as non-void.
    (porespy.filters.local_thickness(method='dt') returns the radius r of the same balls.)

    Parameters
    ----------
    void : array_like of bool, 2D or 3D
        The void (pore) phase.
    voxel_size : float or str, optional
        Voxel edge in m (or a quantity, ``"50nm"``); the result is then in m, otherwise in voxels.

    Returns
    -------
    numpy.ndarray of float
        The local thickness of each void voxel (a diameter), 0 outside the void.

    Examples
    --------
    >>> import numpy as np
    >>> slab = np.zeros((9, 20, 20), bool); slab[2:7] = True   # 5 voxels wide
    >>> float(local_thickness(slab).max())
    5.0
    """
    from scipy import ndimage

    v = np.asarray(void, bool)
    if v.ndim not in (2, 3):
        raise LithmapError(f"void has shape {v.shape}; expected a 2D image or a 3D volume")
    core = (slice(1, -1),) * v.ndim
    dt = ndimage.distance_transform_edt(np.pad(v, 1))
    out = np.zeros(v.shape)
    for r in range(1, int(np.floor(dt.max())) + 1):  # ascending: a larger ball overwrites a smaller one
        seeds = dt >= r
        covered = (ndimage.distance_transform_edt(~seeds) < r)[core] & v
        out[covered] = 2 * r - 1
    return out * (1.0 if voxel_size is None else optional_quantity(voxel_size, "m", name="voxel_size", positive=True))


def _binary(volume, threshold):
    """``(solid, rule)``: a bool volume as it is; two values one of which is 0 (0/1, 0/255,
    0/65535, 0/1.0 …): solid = non-zero; a grey volume needs ``threshold``."""
    a = np.asarray(volume)
    if a.ndim not in (2, 3):
        raise LithmapError(f"volume has shape {a.shape}; expected a 2D slice or a 3D volume")
    if threshold is not None:
        if isinstance(threshold, bool) or not np.isfinite(float(threshold)):
            raise LithmapError(f"--threshold {threshold!r} is invalid; expected a finite grey level")
        return np.asarray(a, float) > float(threshold), f"solid = value above {float(threshold):g} (threshold)"
    if a.dtype == bool:
        return a, "solid = True"
    vals = np.unique(a)
    if a.dtype.kind == "f" and np.isnan(vals).any():
        raise LithmapError("volume has NaN values; replace them, or give --threshold GREY (solid = above it)")
    if (vals.size == 2 and vals[0] == 0) or (vals.size == 1 and vals[0] in (0, 1)):
        return a != 0, "solid = non-zero (a two-valued volume)"
    what = f"the one value {float(vals[0]):g}" if vals.size == 1 else \
        f"{vals.size} distinct values ({float(vals.min()):g} to {float(vals.max()):g})"
    raise LithmapError(f"volume is not binary (it has {what}); give --threshold GREY (solid = value above it) for "
                       "a grey volume")


MIN_VOXELS = 8  # default: void specks under 8 voxels (a 2×2×2 cube) are noise, counted as solid


def pore_analysis(volume, *, envelope=None, threshold: float | None = None, closing: int = 0,
                  voxel_size: float | None = None, connectivity: int = 1,
                  min_voxels: int = MIN_VOXELS) -> xr.Dataset:
    """Porosity, pores, their sizes and their connectivity inside one particle.

    Parameters
    ----------
    volume : array_like or xarray.DataArray, 2D or 3D
        The solid against void/background: bool, or two values one of which is 0 (0/1, 0/255,
        …: solid = non-zero), or a grey volume with ``threshold`` (solid = value > threshold);
        e.g. :func:`lithmap.read_image` of a TIFF stack, whose ``pixel_size`` attr is the
        default ``voxel_size``.
    envelope : array_like of bool, optional
        The particle's outline including its pores. Default: the solid with its enclosed holes
        filled, after a morphological closing with a ball of radius ``closing`` voxels (0: no
        closing; with closing > 0 the mouths of surface cracks up to about 2·closing voxels wide
        are bridged, so those cracks count as surface-connected void).
    threshold : float, optional
        Grey level separating solid from void.
    closing : int
        Closing radius (voxels) for the default envelope.
    voxel_size : float or str, optional
        Voxel (pixel) edge in m, or a quantity (``"50nm"``); volumes, diameters and thicknesses
        are then in m³ (m², 2D) and m, otherwise in voxels (``units`` ``"pixel"``). Default: the
        ``pixel_size`` attr of a DataArray ``volume``, else none.
    connectivity : int
        Neighbourhood joining void voxels into one pore: 1 = faces (default), ndim = all.
    min_voxels : int
        Pores of fewer voxels (pixels in 2D) are taken as solid: noise specks of a
        reconstruction (default 8, a 2×2×2 cube; 1 keeps every pore). They are left out of the
        porosity, the pore table and the maps, and counted in ``n_small_pores_dropped``.

    Returns
    -------
    xarray.Dataset
        Scalars ``porosity`` (void/envelope), ``n_pores``, ``void_volume``, ``envelope_volume``,
        ``largest_network_fraction`` (void share of the largest connected pore),
        ``surface_connected_fraction`` (void share of the pores touching the envelope's
        boundary, i.e. open to the outside) and ``isolated_fraction`` (1 − that); per pore (dim
        ``pore``, labels 1…): ``pore_volume``, ``equivalent_diameter`` (sphere in 3D, circle in
        2D), ``max_local_thickness``, ``mean_local_thickness``, ``surface_connected``,
        ``centroid`` (pore, axis); the pore-size distribution ``thickness_fraction`` (void share
        at each local-thickness value, dim ``thickness``); maps ``pore_label`` (0 = not void),
        ``local_thickness``, ``envelope`` and ``mask`` (the envelope as bool: what other
        commands take as ``--mask``). Attrs: ``solid_rule``, ``min_voxels``,
        ``n_small_pores_dropped``, ``small_void_voxels``. NaN fractions when there is no void.

    Raises
    ------
    LithmapError
        An empty particle, a grey volume without ``threshold``, a bad ``closing`` or
        ``voxel_size``, an envelope of another shape.

    Examples
    --------
    A 2D disc of solid with one round pore inside and a crack open to its edge:

    >>> import numpy as np
    >>> y, x = np.mgrid[-20:21, -20:21]
    >>> solid = (np.hypot(y, x) <= 18) & ~(np.hypot(y - 6, x) <= 3)
    >>> solid[0:21, 20] = False                               # a one-pixel crack from the rim
    >>> ds = pore_analysis(solid, closing=2, voxel_size="50nm")
    >>> int(ds.n_pores), ds["pore_volume"].attrs["units"]
    (2, 'm^2')
    >>> 0 < float(ds.surface_connected_fraction) < 1
    True
    """
    from scipy import ndimage

    if voxel_size is None and isinstance(volume, xr.DataArray) and volume.attrs.get("pixel_size"):
        voxel_size = float(volume.attrs["pixel_size"])
    elif voxel_size is not None:
        voxel_size = optional_quantity(voxel_size, "m", name="voxel_size", positive=True)

    solid, solid_rule = _binary(volume, threshold)
    nd = solid.ndim
    if isinstance(min_voxels, bool) or not isinstance(min_voxels, (int, np.integer)) or min_voxels < 1:
        raise LithmapError(f"--min-voxels {min_voxels!r} is invalid; expected a whole number of voxels >= 1")
    if not solid.any():
        raise LithmapError("the particle is empty: no solid voxel in the volume")
    if not (isinstance(closing, (int, np.integer)) and closing >= 0):
        raise LithmapError(f"closing={closing!r} must be a radius in voxels ≥ 0")
    if voxel_size is not None and not (np.isfinite(voxel_size) and voxel_size > 0):
        raise LithmapError(f"--voxel-size {float(voxel_size):g} is invalid; expected a positive length in m")
    structure = _structure(nd, connectivity)
    if envelope is None:
        filled = solid
        if closing:
            pad = closing + 1
            ball = np.linalg.norm(np.indices((2 * closing + 1,) * nd) - closing, axis=0) <= closing
            filled = ndimage.binary_closing(np.pad(solid, pad), ball)[(slice(pad, -pad),) * nd] | solid
        env = ndimage.binary_fill_holes(filled)
    else:
        env = np.asarray(envelope, bool)
        if env.shape != solid.shape:
            raise LithmapError(f"envelope has shape {env.shape}, the volume {solid.shape}")
        if not env.any():
            raise LithmapError("the particle envelope is empty")
    void = env & ~solid
    if not (env & solid).any():
        raise LithmapError("the particle is empty: no solid voxel inside the envelope")
    labels, n = ndimage.label(void, structure=structure)
    n_small = small_voxels = 0
    if n and min_voxels > 1:
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        small = sizes < min_voxels
        small[0] = False
        n_small = int(small.sum())
        if n_small:
            drop = small[labels]
            small_voxels = int(drop.sum())
            void = void & ~drop
            solid = solid | drop
            labels, n = ndimage.label(void, structure=structure)
    p = 1.0 if voxel_size is None else float(voxel_size)
    vunit = ("m^3" if nd == 3 else "m^2") if voxel_size else _PIXEL
    lunit = "m" if voxel_size else _PIXEL
    counts = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    # pores touching the outside of the envelope (the array border counts as outside)
    outside = np.pad(~env, 1, constant_values=True)
    near_out = ndimage.binary_dilation(outside, structure=_structure(nd, 1))[(slice(1, -1),) * nd]
    open_labels = np.unique(labels[near_out & void])
    surface = np.isin(np.arange(1, n + 1), open_labels)
    lt = local_thickness(void)
    idx = np.arange(1, n + 1)
    if n:
        lt_max = np.asarray(ndimage.maximum(lt, labels, idx), float)
        lt_mean = np.asarray(ndimage.mean(lt, labels, idx), float)
        centroid = np.array(ndimage.center_of_mass(void, labels, idx), float).reshape(n, nd)
    else:
        lt_max = lt_mean = np.zeros(0)
        centroid = np.zeros((0, nd))
    if nd == 3:
        eqd = (6 * counts / np.pi) ** (1 / 3)
    else:
        eqd = np.sqrt(4 * counts / np.pi)
    total = int(counts.sum())
    thick_vals, thick_counts = np.unique(lt[void], return_counts=True)
    frac = (lambda x: float(x) / total) if total else (lambda x: np.nan)
    dims = ("z", "y", "x")[3 - nd:]
    word = "volume" if nd == 3 else "area"
    shape = "sphere" if nd == 3 else "circle"
    ds = xr.Dataset(
        {
            "porosity": ((), float(void.sum() / env.sum()),
                         {"long_name": f"void {word} / envelope {word}", "units": "1"}),
            "n_pores": ((), int(n), {"long_name": "number of connected pores"}),
            "void_volume": ((), total * p**nd, {"long_name": f"void {word} inside the envelope", "units": vunit}),
            "envelope_volume": ((), int(env.sum()) * p**nd, {"long_name": f"particle envelope {word}", "units": vunit}),
            "largest_network_fraction": ((), frac(counts.max()) if n else np.nan,
                                         {"long_name": "void share of the largest connected pore network",
                                          "units": "1"}),
            "surface_connected_fraction": ((), frac(counts[surface].sum()),
                                           {"long_name": "void share of pores open to the particle surface",
                                            "units": "1"}),
            "isolated_fraction": ((), frac(counts[~surface].sum()),
                                  {"long_name": "void share of pores closed inside the particle", "units": "1"}),
            "pore_volume": ("pore", counts * p**nd, {"long_name": f"pore {word}", "units": vunit}),
            "equivalent_diameter": ("pore", eqd * p, {"long_name": f"diameter of the {shape} of equal {word}",
                                                      "units": lunit}),
            "max_local_thickness": ("pore", lt_max * p,
                                    {"long_name": "largest local thickness in the pore", "units": lunit}),
            "mean_local_thickness": ("pore", lt_mean * p,
                                     {"long_name": "mean local thickness over the pore", "units": lunit}),
            "surface_connected": ("pore", surface.astype(np.int8),
                                  {"long_name": "1 if the pore reaches the particle surface"}),
            "centroid": (("pore", "axis"), centroid * p, {"long_name": "pore centroid", "units": lunit}),
            "thickness_fraction": ("thickness", thick_counts / total if total else np.zeros(0),
                                   {"long_name": "pore-size distribution: void share at each local thickness",
                                    "units": "1"}),
            "pore_label": (dims, labels.astype(np.int32), {"long_name": "pore label (0: solid or outside)"}),
            "local_thickness": (dims, lt * p, {"long_name": "local thickness of the void (diameter)", "units": lunit}),
            "envelope": (dims, env.astype(np.int8), {"long_name": "particle envelope"}),
            "mask": (dims, env, {"long_name": "particle envelope (solid and its pores)"}),
        },
        coords={"pore": idx, "axis": list(dims), "thickness": ("thickness", thick_vals * p, {"units": lunit}),
                **{d: (d, np.arange(s) * p, {"units": lunit}) for d, s in zip(dims, solid.shape)}},
        attrs={"connectivity": int(connectivity), "voxel_size": p if voxel_size else "unset",
               "local_thickness": "largest inscribed digital ball, 2r-1 voxels (distance-transform method)",
               "solid_rule": solid_rule, "min_voxels": int(min_voxels), "n_small_pores_dropped": n_small,
               "small_void_voxels": small_voxels,
               "min_voxels_rule": f"pores under {int(min_voxels)} voxels are taken as solid (noise specks)"},
    )
    return ds
