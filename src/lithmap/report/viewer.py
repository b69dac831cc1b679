"""lithmap results in napari: ``lithmap view RESULT...`` and the napari reader plugin.

:func:`result_layers` turns a result (a Dataset, or a NetCDF file / Zarr store) into napari
LayerData tuples ``(data, kwargs, layer_type)``: every map of the result becomes a layer, with
``time`` (then ``energy``, ``angle``, ...) as the leading axes, so napari shows them as sliders,
and scale and translate in µm (and s) from the result's own coordinates, so the layers of a
movie and of the simulation of the same particle overlay. :func:`view_result` opens them in a
napari viewer; :func:`napari_get_reader` is the reader contribution of ``napari.yaml`` (npe2).

napari is optional (``pip install "lithmap[view]"``): nothing here imports it before it is
needed, and :func:`result_layers` never does (its colormaps are names napari resolves itself).

How a variable is shown:

- maps on (y, x) or (z, y, x), with any leading dims: the leading dims become sliders when their
  coordinate is numeric (``time`` first) and are split into one layer per value when it is text
  (``standard`` of LCF weights, ``element`` of composition maps);
- radially symmetric results on ``r`` (spheres) are revolved onto a central cross-section, and
  axisymmetric ones on (z, r) (porous spheres) mirrored about the axis into a meridian section;
- integer label maps (``mask``, ``cluster``, ``ring``, ``particle``, ``phase``, ``pore_label``,
  ...) are Labels layers (a background of -1 is shifted to 0; the layer's ``features`` give
  the original values);
- ``total_contrast`` and other signed changes (``misfit``, ``residual``, ``deviation``,
  stresses) use the diverging ``RdBu_r`` with limits symmetric about zero; θ maps use
  ``viridis`` on [0, 1] (both colour-blind safe, the colormaps of lithmap's figures); stresses
  are shown in MPa (von Mises, a magnitude, in ``magma`` from zero).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError

#: The Python package that provides the viewer, and how to install it.
INSTALL_HINT = 'pip install "lithmap[view]"'
#: Result files the reader plugin opens.
RESULT_SUFFIXES = (".nc", ".zarr")
#: Spatial dims of map layers, in the order napari shows them (the last two on screen).
SPATIAL = ("z", "y", "x")
#: Integer variables that are label maps (also any name ending in ``mask`` or ``label(s)``).
LABEL_NAMES = frozenset({"mask", "cluster", "ring", "particle", "labels", "phase", "envelope", "support",
                         "segmentation", "pore_label", "bad_pixel_mask"})
#: Signed quantities around zero: diverging colormap, symmetric limits.
SIGNED_NAMES = frozenset({"total_contrast", "misfit", "residual", "deviation", "theta_residual", "difference"})
#: Pixels across the cross-section of a radially symmetric result (a radius is 100 pixels).
SECTION_PIXELS = 201
#: Slider axes with a physical unit (pint names, as napari takes them); others are indices.
_AXIS_UNITS = {"time": "second", "energy": "electronvolt", "angle": "degree"}
#: Layer preferred as the visible one of each result; the others start hidden.
_PRIMARY = ("total_contrast", "theta", "theta_measured", "mean_valence", "volume", "absorbance", "intensity")


#: The Debian packages of the system libraries napari's Qt loads (tools/qt-deps.sh installs them).
QT_LIBRARIES = "libgl1 libopengl0 libglib2.0-0 libfontconfig1 libx11-6 libxext6 libegl1 libxkbcommon0 libdbus-1-3"


def _import_failed(exc: ImportError) -> LithmapError:
    """One line for a failed import of napari or of the Qt it loads."""
    if exc.name == "napari":
        return LithmapError(f"the viewer needs napari, which is not installed: {INSTALL_HINT}")
    if isinstance(exc, ModuleNotFoundError):
        return LithmapError(f"napari could not be imported ({exc.name} is missing): {INSTALL_HINT}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return LithmapError(f"napari could not be imported ({first}); Qt needs system libraries (Debian: "
                        f"apt-get install {QT_LIBRARIES})")


def _require_napari():
    try:
        import napari
    except ImportError as exc:
        raise _import_failed(exc) from None
    return napari


# --- opening -------------------------------------------------------------------------------


def _open(result) -> tuple[xr.Dataset, str | None]:
    """The result as a Dataset and its file's stem (None for a Dataset/DataArray given)."""
    if isinstance(result, xr.Dataset):
        return result, None
    if isinstance(result, xr.DataArray):
        return result.to_dataset(name=result.name or "intensity"), None
    if not isinstance(result, (str, os.PathLike)):
        raise LithmapError(f"result={type(result).__name__} is invalid; expected a NetCDF file, a Zarr store "
                           "or an xarray Dataset")
    p = Path(str(result).rstrip("/"))
    if not p.exists():
        raise LithmapError(f"result file {str(p)!r} does not exist")
    if p.suffix.lower() == ".zarr":  # large movies: opened lazily (Dask), read frame by frame as shown
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return xr.open_zarr(p), p.stem
        except Exception as exc:  # noqa: BLE001 - zarr and its codecs raise many types
            raise LithmapError(f"result {str(p)!r} is not a readable Zarr store "
                               f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if p.is_dir():
        raise LithmapError(f"result {str(p)!r} is a folder; expected a NetCDF file or a .zarr store")
    from ..io.results import read_result

    return read_result(p), p.stem


# --- geometry: radial results onto a plane ---------------------------------------------------


def _revolved(da: xr.DataArray) -> xr.DataArray:
    """A field on ``r`` (a sphere) on the central cross-section (y, x): value at distance √(x²+y²)."""
    r = np.asarray(da["r"].values, float)
    R = float(np.nanmax(np.abs(r)))
    grid = np.linspace(-R, R, SECTION_PIXELS)
    rho = np.hypot(grid[:, None], grid[None, :]).ravel()
    order = np.argsort(r)
    r = r[order]
    lead = [d for d in da.dims if d != "r"]
    values = np.asarray(da.transpose(*lead, "r").values, float)[..., order]
    flat = values.reshape(-1, r.size)
    i1 = np.clip(np.searchsorted(r, rho), 1, r.size - 1)
    i0 = i1 - 1
    w = np.clip((rho - r[i0]) / np.where(r[i1] > r[i0], r[i1] - r[i0], 1.0), 0.0, 1.0)
    out = flat[:, i0] * (1 - w) + flat[:, i1] * w
    inner = r[0] if r[0] > 0.02 * R else 0.0  # a void (hollow sphere), not the first node off the centre
    out[:, (rho > r[-1] * (1 + 1e-9)) | (rho < inner * (1 - 1e-9))] = np.nan
    out = out.reshape(values.shape[:-1] + (SECTION_PIXELS, SECTION_PIXELS)).astype(np.float32)
    coords = {d: da[d] for d in lead if d in da.coords}
    coords.update({"y": ("y", grid, {"units": "m"}), "x": ("x", grid, {"units": "m"})})
    return xr.DataArray(out, dims=(*lead, "y", "x"), coords=coords, attrs=da.attrs, name=da.name)


def _mirrored(da: xr.DataArray) -> xr.DataArray:
    """A field on (z, r) (a solid of revolution) on its meridian plane (z, x), x = ±r."""
    r = np.asarray(da["r"].values, float)
    lead = [d for d in da.dims if d not in ("z", "r")]
    values = np.asarray(da.transpose(*lead, "z", "r").values)
    keep = slice(1, None) if r[0] == 0 else slice(None)  # the axis once
    x = np.concatenate([-r[keep][::-1], r])
    out = np.concatenate([values[..., keep][..., ::-1], values], axis=-1)
    coords = {d: da[d] for d in lead if d in da.coords}
    coords.update({"z": da["z"], "x": ("x", x, {"units": da["r"].attrs.get("units", "m")})})
    return xr.DataArray(out, dims=(*lead, "z", "x"), coords=coords, attrs=da.attrs, name=da.name)


def _maps_dims(dims) -> bool:
    """Whether a variable on ``dims`` is a map: two or three of (z, y, x), or (z, r), or r alone."""
    d = set(dims)
    if "r" in d:
        return not d & {"x", "y"}
    return len(d & set(SPATIAL)) >= 2


def _planar(da: xr.DataArray) -> tuple[xr.DataArray, str] | None:
    """The field on (…, [z,] y, x) and what was done to get there, or None if it is no map."""
    if not _maps_dims(da.dims):
        return None
    if "r" not in da.dims:
        return da, ""
    if da.sizes["r"] < 2:
        return None
    if "z" in da.dims:
        return _mirrored(da), ", meridian section"
    return _revolved(da), ", central section"


# --- axes ------------------------------------------------------------------------------------


def _uniform_step(values: np.ndarray, rel: float) -> float | None:
    if values.size < 2 or values.dtype.kind not in "fiu":
        return None
    steps = np.diff(values.astype(float))
    step = float(np.median(steps))
    if not np.isfinite(step) or step <= 0 or np.max(np.abs(steps - step)) > rel * step:
        return None
    return step


def _tidy(value: float) -> float:
    """``value`` to 12 significant digits (0.05 µm, not 0.049999999999999996)."""
    return float(f"{value:.12g}")


def _axis(da: xr.DataArray, dim: str) -> tuple[float, float, str]:
    """(scale, translate, pint unit) of one layer axis: µm for positions in m, s for a uniformly
    sampled time, eV/degree for uniform energies/angles; else the index (unit pixel)."""
    if dim not in da.coords:
        return 1.0, 0.0, "pixel"
    c = da[dim]
    values = np.asarray(c.values)
    if dim in SPATIAL:
        unit = c.attrs.get("units")
        step = _uniform_step(values, 1e-3)
        if step is None:
            return 1.0, 0.0, "pixel"
        if unit == "m" or (unit is None and step < 1e-3):
            return _tidy(step * 1e6), _tidy(float(values[0]) * 1e6), "micrometer"
        return 1.0, 0.0, "pixel"
    if dim in _AXIS_UNITS:
        step = _uniform_step(values, 0.05)  # frame times from a clock jitter a little
        if step is not None:
            return _tidy(step), _tidy(float(values[0])), _AXIS_UNITS[dim]
    return 1.0, 0.0, "pixel"


def _split(da: xr.DataArray):
    """(suffix, part) for each value of the text-labelled dims (``standard``, ``element``)."""
    text = [d for d in da.dims if d not in SPATIAL and d in da.coords and da[d].dtype.kind in "USO"]
    if not text:
        yield "", da
        return
    d = text[0]
    for k in range(da.sizes[d]):
        for suffix, part in _split(da.isel({d: k}, drop=True)):
            yield f" {da[d].values[k]}" + suffix, part


# --- styling ---------------------------------------------------------------------------------


def _sample(data, mask=None) -> np.ndarray:
    """Finite values of ``data`` for its contrast limits: at most 8 frames of the first axis
    (computed for Dask), restricted to the particle's ``mask`` when it has the same map shape."""
    arr = data
    if arr.ndim >= 3 and arr.shape[0] > 8:
        arr = arr[np.unique(np.linspace(0, arr.shape[0] - 1, 8).round().astype(int))]
    arr = np.asarray(arr, float)
    if mask is not None and mask.shape == arr.shape[-mask.ndim:] and mask.any():
        arr = arr[..., mask]
    arr = arr[np.isfinite(arr)]
    if arr.size > 2_000_000:
        arr = arr[:: arr.size // 1_000_000]
    return arr


def _limits(values: np.ndarray, lo: float = 0.5, hi: float = 99.5) -> tuple[float, float]:
    if values.size == 0:
        return 0.0, 1.0
    a, b = (float(v) for v in np.percentile(values, [lo, hi]))
    if not b > a:
        a, b = float(values.min()), float(values.max())
        if not b > a:
            a, b = a - 0.5, a + 0.5
    return a, b


def _is_labels(name: str, da: xr.DataArray) -> bool:
    if da.dtype.kind == "b":
        return True
    return da.dtype.kind in "iu" and (name in LABEL_NAMES or name.endswith(("mask", "label", "labels")))


def _style(name: str, units: str, data, mask) -> tuple[object, dict, str]:
    """(data, image kwargs, unit shown) for an image layer of variable ``name``."""
    if units == "Pa":  # stresses: MPa on screen
        data, units = data / 1e6, "MPa"
    if "von_mises" in name:  # a magnitude: from zero
        hi = _limits(_sample(data, mask))[1]
        return data, {"colormap": "magma", "contrast_limits": (0.0, hi if hi > 0 else 1.0)}, units
    signed = name in SIGNED_NAMES or name.endswith(("_stress", "_contrast")) or units == "MPa"
    if name == "theta" or (name.startswith("theta_") and units in ("1", "")):
        return data, {"colormap": "viridis", "contrast_limits": (0.0, 1.0)}, units
    if signed:
        v = _sample(data, mask)
        lim = float(np.percentile(np.abs(v), 99.5)) if v.size else 0.0
        lim = lim if np.isfinite(lim) and lim > 0 else 1.0
        return data, {"colormap": "RdBu_r", "contrast_limits": (-lim, lim)}, units
    if name in ("weights", "cluster_weights") or name.endswith("_fraction"):
        return data, {"colormap": "magma", "contrast_limits": (0.0, 1.0)}, units
    if "valence" in name:
        return data, {"colormap": "plasma", "contrast_limits": _limits(_sample(data, mask), 1, 99)}, units
    return data, {"colormap": "gray", "contrast_limits": _limits(_sample(data, mask))}, units


def _label_data(data, name: str) -> tuple[np.ndarray, dict]:
    """Integer labels with 0 as background; a background of -1 (``cluster``, ``ring``) shifted up,
    with ``features`` giving each label's original value (napari shows it under the cursor)."""
    arr = np.asarray(data)
    arr = arr.astype(np.uint8) if arr.dtype.kind == "b" else arr
    low = int(arr.min()) if arr.size else 0
    if low >= 0:
        return arr, {}
    shifted = (arr.astype(np.int64) - low).astype(np.int32)
    original = np.arange(low, int(arr.max()) + 1)
    return shifted, {"features": {"index": original - low, name: original}, "metadata_extra": {"label_offset": -low}}


# --- layers ----------------------------------------------------------------------------------


def _candidates(ds: xr.Dataset):
    """Data variables, then non-index coordinates that are maps (``cluster`` of a clusters result)."""
    yield from ds.data_vars
    for name, c in ds.coords.items():
        if name not in ds.dims and len(set(c.dims) & set(SPATIAL + ("r",))) >= 1 and c.ndim >= 1:
            yield name


def _particle_mask(ds: xr.Dataset) -> np.ndarray | None:
    if "mask" in ds and set(ds["mask"].dims) <= set(SPATIAL) and ds["mask"].ndim >= 2:
        return np.asarray(ds["mask"].transpose(*[d for d in SPATIAL if d in ds["mask"].dims]).values) > 0
    return None


def result_layers(result, *, name: str | None = None) -> list[tuple]:
    """napari layers of a lithmap result: every map, labelled, with time as the first axis.

    Parameters
    ----------
    result : xarray.Dataset, xarray.DataArray, str or Path
        A result Dataset (``simulate``, ``contrast_movie``, ``analyse_movie``, ``fit_alpha``,
        ``fit_lcf``, ``spectral_clusters``, ``reconstruct``, ``simulate_stress``, ...), a movie
        (``read_movie``), or the NetCDF file / Zarr store it was written to (a Zarr store is
        opened lazily: frames are read as they are shown).
    name : str, optional
        Prefix of the layer names (``"movie: total contrast"``); default the file's stem, none
        for a Dataset.

    Returns
    -------
    list of tuple
        napari LayerData tuples ``(data, kwargs, layer_type)``, ``layer_type`` ``"image"`` or
        ``"labels"``; ``kwargs`` holds ``name`` (with units), ``scale`` and ``translate`` (µm for
        positions, s for a uniformly sampled time), ``axis_labels``, ``units``, and for images
        ``colormap`` and ``contrast_limits``. Images come first, labels last (drawn on top);
        one image per result is visible (its contrast, else θ, valence, volume, intensity).

    Raises
    ------
    LithmapError
        The file does not exist or is not a readable result, or the result holds no map (no
        variable on (y, x), (z, y, x), (z, r) or r).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t, y, x = np.arange(3) * 60.0, np.arange(4) * 5e-8, np.arange(5) * 5e-8
    >>> ds = xr.Dataset({"total_contrast": (("time", "y", "x"), np.linspace(-0.1, 0.2, 60).reshape(3, 4, 5)),
    ...                  "mask": (("y", "x"), np.ones((4, 5), np.int8))},
    ...                 coords={"time": ("time", t, {"units": "s"}), "y": ("y", y, {"units": "m"}),
    ...                         "x": ("x", x, {"units": "m"})})
    >>> [(kw["name"], kind, data.shape) for data, kw, kind in result_layers(ds)]
    [('total contrast', 'image', (3, 4, 5)), ('mask', 'labels', (4, 5))]
    >>> data, kw, kind = result_layers(ds)[0]
    >>> kw["scale"], kw["axis_labels"], kw["colormap"], kw["contrast_limits"][0] == -kw["contrast_limits"][1]
    ((60.0, 0.05, 0.05), ('time', 'y', 'x'), 'RdBu_r', True)
    """
    ds, stem = _open(result)
    prefix = name if name is not None else stem
    where = f"result {str(result)!r}" if stem is not None else "the result"
    mask = _particle_mask(ds)
    images, labels = [], []
    for var in _candidates(ds):
        da = ds[var]
        planar = _planar(da)
        if planar is None:
            continue
        da, section = planar
        for part_suffix, part in _split(da):
            spatial = [d for d in SPATIAL if d in part.dims]
            lead = [d for d in part.dims if d not in SPATIAL]
            lead.sort(key=lambda d: d != "time")  # time first: the first slider
            part = part.transpose(*lead, *spatial)
            axes = [_axis(part, d) for d in part.dims]
            units = str(part.attrs.get("units", ""))
            kwargs = {"scale": tuple(a[0] for a in axes), "translate": tuple(a[1] for a in axes),
                      "axis_labels": tuple(part.dims), "units": tuple(a[2] for a in axes),
                      "metadata": {"variable": str(var), "long_name": str(part.attrs.get("long_name", "")),
                                   "units": units, "source": None if stem is None else str(result),
                                   "dims": tuple(part.dims)}}
            if section:
                kwargs["metadata"]["section"] = section.strip(", ")
            if _is_labels(str(var), part):
                data, extra = _label_data(part.data, str(var))
                kwargs["metadata"].update(extra.pop("metadata_extra", {}))
                kwargs.update(extra)
                shown, kind = "", "labels"
            else:
                data, style, shown = _style(str(var), units, part.data, mask if section == "" else None)
                kwargs.update(style)
                kind = "image"
            label = str(var).replace("_", " ") + part_suffix
            if shown and shown != "1":
                label += f" ({shown})"
            label += section
            kwargs["name"] = f"{prefix}: {label}" if prefix else label
            (labels if kind == "labels" else images).append((data, kwargs, kind))
    if not images and not labels:
        raise LithmapError(f"{where} has no maps to view (no variable on (y, x), (z, y, x), (z, r) or r)")
    primary = next((i for p in _PRIMARY for i, (_, kw, _) in enumerate(images) if kw["metadata"]["variable"] == p),
                   0)
    for i, (_, kw, _) in enumerate(images):
        kw["visible"] = i == primary
    for _, kw, _ in labels:
        kw["visible"] = not images
    return images + labels


# --- the viewer ------------------------------------------------------------------------------


def _check_display() -> None:
    """A window needs a display: on Linux without X11/Wayland (and no Qt platform chosen) napari
    would abort inside Qt; say so in one line instead."""
    if not sys.platform.startswith("linux"):
        return
    if os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    raise LithmapError("no display to open the viewer on (DISPLAY is not set): run it on a desktop, over "
                       "'ssh -X', or under 'xvfb-run'")


def view_result(*paths, show: bool = True):
    """Open lithmap results in napari: movie, contrast, masks and simulated θ as layers, time as a slider.

    Parameters
    ----------
    *paths : str, Path or xarray.Dataset
        Results (NetCDF files, Zarr stores, or Datasets), e.g. a ``lithmap contrast`` result and
        a ``lithmap simulate --shape movie.nc`` run of the same particle: their layers overlay
        (positions in µm, time in s from each result's coordinates).
    show : bool
        Show the window and run napari's event loop until it is closed; False builds the viewer
        without showing it (scripts, tests with ``QT_QPA_PLATFORM=offscreen``).

    Returns
    -------
    napari.Viewer
        The viewer, its layers named ``"<file stem>: <variable> (<units>)"`` as
        :func:`result_layers` makes them: the images of every result, then their labels (on top).

    Raises
    ------
    LithmapError
        No result given, a file missing or not a result with maps, napari not installed
        (``pip install "lithmap[view]"``), or ``show`` without a display.

    Examples
    --------
    >>> view_result("no/such/movie.nc")
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: result file 'no/such/movie.nc' does not exist

    With napari installed and a display (or ``QT_QPA_PLATFORM=offscreen`` and ``show=False``):

    >>> viewer = view_result("movie.nc", "run.nc", show=False)  # doctest: +SKIP
    >>> [layer.name for layer in viewer.layers][:3]  # doctest: +SKIP
    ['movie: intensity (counts)', 'movie: total contrast', 'run: theta']
    """
    if not paths:
        raise LithmapError("no result to view; give one or more NetCDF/Zarr results")
    layers = [layer for p in paths for layer in result_layers(p)]  # every input checked before a window opens
    layers = [la for la in layers if la[2] != "labels"] + [la for la in layers if la[2] == "labels"]
    napari = _require_napari()
    if show:
        _check_display()
    names = [Path(str(p)).name for p in paths if isinstance(p, (str, os.PathLike))]
    try:
        viewer = napari.Viewer(title="lithmap: " + ", ".join(names) if names else "lithmap", show=show)
    except ImportError as exc:  # no Qt binding, or one whose system libraries are missing
        raise _import_failed(exc) from None
    for data, kwargs, kind in layers:
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    widest = max(layers, key=lambda layer: len(layer[1]["axis_labels"]))[1]["axis_labels"]
    if len(widest) == viewer.dims.ndim:
        viewer.dims.axis_labels = widest
    viewer.reset_view()
    if show:
        napari.run()
    return viewer


# --- the npe2 reader -------------------------------------------------------------------------


def _is_result(path) -> bool:
    """Whether ``path`` is a NetCDF file or Zarr store with a map lithmap can show (opened lazily)."""
    p = Path(str(path).rstrip("/"))
    if p.suffix.lower() not in RESULT_SUFFIXES or not p.exists():
        return False
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if p.suffix.lower() == ".zarr":
                ds = xr.open_zarr(p)
            else:
                if p.is_dir():
                    return False
                from ..io.results import _hdf5_problem

                if _hdf5_problem(p) is not None:
                    return False
                ds = xr.open_dataset(p, engine="h5netcdf")
            with ds:
                return any(_maps_dims(ds[v].dims) for v in _candidates(ds))
    except Exception:  # noqa: BLE001 - anything unreadable is not ours: napari tries its other readers
        return False


def _read(path) -> list[tuple]:
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    return [layer for p in paths for layer in result_layers(p)]


def napari_get_reader(path):
    """The napari reader contribution (npe2, ``lithmap/napari.yaml``): lithmap's NetCDF/Zarr results.

    Parameters
    ----------
    path : str or list of str
        What napari is opening (a file, a ``.zarr`` folder, or several).

    Returns
    -------
    callable or None
        A function taking ``path`` and returning :func:`result_layers` of each file, when every
        path is a ``.nc`` or ``.zarr`` result holding a map; None otherwise (napari then tries
        its other readers).

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr
    >>> napari_get_reader("notes.txt") is None
    True
    >>> ds = xr.Dataset({"theta": (("time", "y", "x"), np.full((2, 3, 3), 0.9))},
    ...                 coords={"time": ("time", [0.0, 60.0], {"units": "s"})})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     ds.to_netcdf(f"{d}/run.nc", engine="h5netcdf")
    ...     reader = napari_get_reader(f"{d}/run.nc")
    ...     [(kw["name"], kind) for _, kw, kind in reader(f"{d}/run.nc")]
    [('run: theta', 'image')]
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths or not all(_is_result(p) for p in paths):
        return None
    return _read
