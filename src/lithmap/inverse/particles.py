"""Fit every particle of a field of view, each on its own outline, as Dask tasks.

A ``lithmap contrast FIELD --particles`` result labels the particles of a field (``particle`` on
(y, x), 0 = matrix). Each particle becomes a single-particle contrast result of its own — the
field cropped to the particle and a margin around it, its label as the ``mask`` — and is fitted
by :func:`lithmap.fit_alpha` (and :func:`lithmap.fit_diffusivity`) as one ``dask.distributed``
task, with the cluster, the fingerprint, the resumable Zarr store and the status/failure
convention of :func:`lithmap.distributed_sweep` (:mod:`lithmap.inverse.distributed`).

The table on dim ``particle`` answers the question of Xu, Merryweather et al. (Joule 2022,
fig. S7: inter-particle heterogeneity at 2C, ascribed to differences in wiring and tortuosity):
which particles lag (their whole α interval below the field's median), and does α follow size
(Spearman's ρ of α with the equivalent radius)? The model simulates each particle at its own
size and shape, so an α that follows size points at something size-dependent the model lacks;
lagging particles that size does not explain point at their wiring.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import xarray as xr

from .. import __version__
from ..errors import LithmapError, SolverError
from .distributed import (
    COMPUTED,
    FAILED,
    PENDING,
    _check_cluster,
    _check_store,
    _connect,
    _fingerprint,
    _gather,
    _n_workers,
    _read,
    _reason,
    _write_layout,
)

#: What :func:`fit_particles` can fit per particle.
PARTICLE_FITS = ("alpha", "diffusivity")
#: Per-particle results of the α fit (name → (units, long name)).
_ALPHA = {
    "alpha": ("1", "best-fit scale factor on D(theta)"),
    "alpha_low": ("1", "alpha, 95 % profile-likelihood interval, low"),
    "alpha_high": ("1", "alpha, 95 % profile-likelihood interval, high"),
    "misfit": ("1", "misfit at the best fit (weighted SSR per pixel-frame)"),
    "n_data": ("1", "pixel-frames compared"),
    "psf_fwhm": ("m", "FWHM of the point-spread function used"),
}
#: Per-particle results of the D(θ) fit, on dim ``knot`` (name → (units, long name)).
_KNOTS = {
    "theta_knot": ("1", "lithium fraction at the knot of the fitted D(theta)"),
    "diffusivity": ("m^2/s", "fitted D(theta), log-linear between knots"),
    "diffusivity_low": ("m^2/s", "95 % simultaneous band (the whole curve), low"),
    "diffusivity_high": ("m^2/s", "95 % simultaneous band (the whole curve), high"),
}
_TEXT = ("failure",)
#: Field-of-view variables a particle's own result keeps (the rest are the field's rings, traces, labels).
_KEEP_DIMS = {"time", "y", "x", "axis"}


def fit_particles(result, store=None, *, what: str = "alpha", particles=None, material=None, diffusivity=None,
                  rate=None, protocol=None, theta0=None, psf="auto", calibration: str = "fit", n_knots: int = 6,
                  bounds=(0.2, 20.0), n_scan: int = 7, rtol: float = 0.01, min_pixels: int = 30, margin: int = 10,
                  scheduler: str | None = None, workers: int | None = None, overwrite: bool = False,
                  connect_timeout: float = 5.0, progress=None, log=None) -> xr.Dataset:
    """Fit α (and D(θ)) of every particle of a field, each on its own outline, as Dask tasks.

    Each labelled particle of a ``lithmap contrast --particles`` result is cut out of the field
    with ``margin`` pixels around it, its label becomes the ``mask``, and :func:`lithmap.fit_alpha`
    (with ``what="diffusivity"`` then :func:`lithmap.fit_diffusivity`) fits it as one task of a
    ``dask.distributed`` cluster: a LocalCluster of ``workers`` processes, or the scheduler at
    ``scheduler``. A particle of fewer than ``min_pixels`` pixels, or whose fit fails, is recorded
    as failed with its reason; the others finish. With a Zarr ``store`` each particle lands in
    it as soon as it is fitted, and rerunning the same fit on the same store fits only the
    particles not yet computed (failed ones are retried); a store of another fit is refused.

    Parameters
    ----------
    result : xarray.Dataset or path
        A ``lithmap contrast --particles`` result (:func:`lithmap.analyse_movie` with
        ``particles=True``): ``particle`` labels on (y, x), ``intensity`` and ``total_contrast``.
    store : str or Path, optional
        A Zarr store (``fits.zarr``) written as the particles finish; default: in memory only.
    what : {"alpha", "diffusivity"}
        α alone, or also D(θ) over ``n_knots`` knots with its 95 % band.
    particles : sequence of int, optional
        The labels to fit (default: every particle).
    material, diffusivity, rate, protocol, theta0, psf, calibration
        As for :func:`lithmap.fit_alpha`, the same for every particle (``psf="auto"`` is
        estimated from each particle's own edge).
    n_knots : int
        Knots of the fitted D(θ) (with ``what="diffusivity"``).
    bounds, n_scan, rtol
        The α search of :func:`lithmap.fit_alpha`.
    min_pixels : int
        Smaller particles are not fitted (recorded as failed): once the outermost pixel of the
        outline is left out, a 30-pixel disc keeps about 12 pixels to compare.
    margin : int
        Pixels of the field kept around each particle (its edge and the matrix beside it).
    scheduler : str, optional
        Address of a running scheduler, ``"tcp://HOST:PORT"`` (the workers need lithmap; the
        client writes the store).
    workers : int, optional
        Local worker processes without ``scheduler`` (default: one per available core).
    overwrite : bool
        Replace a store that holds another fit (or anything else).
    connect_timeout : float
        Seconds to wait for ``scheduler``.
    progress : callable, optional
        Called with 1 as each particle's task finishes.
    log : callable, optional
        Called with one line of text: what is already in the store, what is computed now.

    Returns
    -------
    xarray.Dataset
        On dim ``particle`` (the labels): ``alpha``, ``alpha_low``, ``alpha_high`` (95 %),
        ``misfit``, ``n_data``, ``psf_fwhm`` (m), ``pixel_count``, ``equivalent_radius`` (m,
        √(area/π)), ``centroid_y``, ``centroid_x`` (m), ``touches_edge``, ``lagging`` (1: the
        whole α interval below the field's median α), ``status`` (0 not computed, 1 computed,
        2 failed) and ``failure`` (the reason, or empty); with ``what="diffusivity"`` also
        ``theta_knot``, ``diffusivity``, ``diffusivity_low``, ``diffusivity_high`` on
        (particle, knot). ``labels`` and ``reference_intensity`` on (y, x) are the field. attrs:
        the inter-particle statistics over the computed particles (``n_computed``,
        ``alpha_median``, ``alpha_spread`` — the standard deviation of ln α —,
        ``alpha_heterogeneity_p`` — the χ² test that all share one α given their intervals —,
        ``spearman_rho_alpha_radius``, ``spearman_p_alpha_radius``, ``interpretation``), and
        the fit's definition (``particle_fit_definition``, JSON; ``particle_fit_fingerprint``).

    Raises
    ------
    LithmapError
        A result without particle labels, invalid options, an unreachable scheduler or a store
        of another fit — each before anything is written.

    Examples
    --------
    >>> import lithmap as lm
    >>> fits = fit_particles(lm.analyse_movie("example", particles=True).isel(time=slice(0, 4)),
    ...                      material="nmc811", rate="C/3", psf="177nm", workers=1)  # doctest: +SKIP
    >>> fits.sizes["particle"], int(fits.status[0])  # doctest: +SKIP
    (1, 1)
    """
    say = log or (lambda line: None)
    ds, name = _field_result(result)
    if what not in PARTICLE_FITS:
        raise LithmapError(f"what={what!r} is invalid; expected one of {list(PARTICLE_FITS)}")
    _check_cluster(scheduler, workers)
    for key, value, low in (("min_pixels", min_pixels, 1), ("margin", margin, 0), ("n_knots", n_knots, 2)):
        if isinstance(value, bool) or int(value) != value or value < low:
            raise LithmapError(f"{key}={value!r} is invalid; expected a whole number >= {low}")
    labels = np.asarray(ds["particle"].values).astype(np.int64)
    present = [int(k) for k in np.unique(labels) if k > 0]
    if not present:
        raise LithmapError(f"{name} has particle labels but no particle (every label is 0)")
    chosen = present if particles is None else _chosen(particles, present)
    spec, definition = _definition(ds, labels, chosen, what=what, material=material, diffusivity=diffusivity,
                                   rate=rate, protocol=protocol, theta0=theta0, psf=psf, calibration=calibration,
                                   n_knots=int(n_knots), bounds=bounds, n_scan=n_scan, rtol=rtol,
                                   min_pixels=int(min_pixels), margin=int(margin))
    spec.update(field=ds, labels=labels)
    path = None if store is None else Path(store)
    if path is not None:
        if not path.parent.exists():
            raise LithmapError(f"output folder {str(path.parent)!r} does not exist")
        resume = path.exists() and not overwrite
        if resume:
            _check_store(path, definition, attr="particle_fit_definition", what="particle fit", lists=("particles",))
            status, small = _zarr_status(path)
            if not _todo(status, small):  # nothing to do: no cluster is started or contacted
                say(f"{int(np.sum(status == COMPUTED))} of {status.size} particles already in {path.name}"
                    + (f" ({int(small.sum())} too small to fit)" if small.any() else "") + "; nothing to compute")
                return _read(path, _TEXT)
        fittable = resume or bool(_todo(np.zeros(len(chosen)), _geometry(ds, labels, chosen)["pixel_count"]
                                         < spec["min_pixels"]))
        with _connect(scheduler, workers, connect_timeout) if fittable else contextlib.nullcontext() as client:
            if not resume:
                if path.exists():
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                layout = _layout(ds, labels, chosen, spec, definition)
                _write_layout(path, layout, {v: {"chunks": (1,) + layout[v].shape[1:]} for v in layout.data_vars
                                             if layout[v].dims[:1] == ("particle",)})
            import zarr

            names = [v for v in _row_names(spec) if v != "lagging"]
            arrays = {v: zarr.open_array(str(path / v), mode="r+", zarr_format=2) for v in names}
            status, small = _zarr_status(path)
            try:
                if client is not None:
                    _run(client, status, small, spec, definition, arrays, path.name, say, progress)
            finally:
                _finish_store(path)
        return _read(path, _TEXT)
    layout = _layout(ds, labels, chosen, spec, definition)
    arrays = {v: layout[v].values for v in _row_names(spec) if v != "lagging"}
    small = layout["pixel_count"].values < spec["min_pixels"]
    if _todo(arrays["status"], small):
        with _connect(scheduler, workers, connect_timeout) as client:
            _run(client, arrays["status"].copy(), small, spec, definition, arrays, "memory", say, progress)
    return _summarise(layout)


# ---------------------------------------------------------------- the field and the definition


def _field_result(result):
    from ..io.results import read_result
    from .compare import _contrast_result

    name = "result"
    if not isinstance(result, xr.Dataset):
        name = f"{str(result)!r}"
        if not Path(str(result)).exists():
            raise LithmapError(f"{name} does not exist")
        result = read_result(result)
    if "particle" not in result or result["particle"].dims != ("y", "x"):
        raise LithmapError(f"{name} has no particle labels on (y, x); run 'lithmap contrast FIELD --particles' "
                           "(analyse_movie(..., particles=True)) first")
    if "mask" not in result and "intensity" in result:  # the labels are the particles
        result = result.assign(mask=(("y", "x"), (result["particle"].values > 0).astype(np.int8)))
    _contrast_result(result, "fit")
    return result, name


def _chosen(particles, present):
    try:
        chosen = [int(k) for k in np.atleast_1d(np.asarray(particles))]
    except (TypeError, ValueError):
        raise LithmapError(f"particles={particles!r} is invalid; expected particle labels such as [1, 3]") from None
    missing = [k for k in chosen if k not in present]
    if missing or not chosen or len(set(chosen)) != len(chosen):
        raise LithmapError(f"particles={particles!r} is invalid; the field's labels are {present} (each once)")
    return sorted(chosen)


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:20]


def _definition(ds, labels, chosen, *, what, material, diffusivity, rate, protocol, theta0, psf, calibration,
                n_knots, bounds, n_scan, rtol, min_pixels, margin):
    """Check on the client what every task needs; return the task spec and the definition the store records."""
    if calibration != "fit":
        raise LithmapError(f"calibration={calibration!r} is invalid for a field of particles; expected 'fit' (the "
                           "optical law fitted on each particle)")
    spec, common = _options([ds], what=what, material=material, diffusivity=diffusivity, rate=rate,
                            protocol=protocol, theta0=theta0, psf=psf, calibration=calibration, n_knots=n_knots,
                            bounds=bounds, n_scan=n_scan, rtol=rtol)
    ref = int(ds.attrs.get("reference_frame", 0))
    intensity = np.asarray(ds["intensity"].values)
    definition = {"field": _digest(labels, ds["time"].values, intensity[ref], intensity[-1]), "fit": what, **common,
                  "min_pixels": min_pixels, "margin": margin, "lithmap_version": __version__, "particles": chosen}
    spec.update(min_pixels=min_pixels, margin=margin)
    return spec, definition


def _options(datasets, *, what, material, diffusivity, rate, protocol, theta0, psf, calibration, n_knots, bounds,
             n_scan, rtol):
    """The options every task shares, checked on the client against each of ``datasets`` (the task spec, and
    their part of the definition a store records)."""
    from ..io.units import parse_quantity
    from ..physics.protocol import parse_protocol
    from ..physics.simulate import resolve_material
    from .protocol import movie_protocol

    mat = resolve_material(material, diffusivity)  # on the client: a CSV table need not exist on the workers
    lo, hi = (float(b) for b in bounds)
    if not (0 < lo < hi and np.isfinite(hi)):
        raise LithmapError(f"bounds={bounds!r} are invalid; expected 0 < low < high")
    if int(n_scan) < 3 or not rtol > 0:
        raise LithmapError(f"n_scan={n_scan!r}, rtol={rtol!r} are invalid; expected at least 3 scan points and a "
                           "positive tolerance")
    if protocol is not None and rate is not None:
        raise LithmapError("give one of rate or protocol, not both")
    if protocol is not None:
        parse_protocol(protocol)
    for ds in datasets if protocol is None else ():
        if rate is not None or not ("charge_passed" in ds or "current" in ds):
            use = rate if rate is not None else ds.attrs.get("c_rate")
            if use is None:
                raise LithmapError("give the movie's protocol: rate='C/3' (--rate C/3) or a protocol")
            steps, _ = movie_protocol(ds, rate=use)
            if steps[0].kind == "rest":
                raise LithmapError(f"rate={rate!r} is invalid; expected a non-zero C-rate such as C/3")
    if theta0 is not None and not (np.isfinite(float(theta0)) and 0 <= float(theta0) <= 1):
        raise LithmapError(f"theta0={theta0!r} is invalid; expected a lithium fraction in [0, 1]")
    psf_text = None if psf is None else str(psf).strip()
    if psf_text is not None and psf_text.lower() != "auto":
        if not parse_quantity(psf, "m", name="psf") >= 0:
            raise LithmapError(f"psf={psf!r} is invalid; expected a FWHM such as '150nm', 'auto' or None")
    grid = np.linspace(0.0, 1.0, 201)
    common = {
        "material": mat.name,
        "diffusivity": repr(mat.diffusivity),
        "diffusivity_values": _digest(np.asarray(mat.diffusivity(grid), float) * float(mat.alpha)),
        "rate": None if rate is None else str(rate),
        "protocol": None if protocol is None else str(protocol),
        "theta0": None if theta0 is None else float(theta0),
        "psf": psf_text,
        "n_knots": n_knots if what == "diffusivity" else None,
        "bounds": [lo, hi], "n_scan": int(n_scan), "rtol": float(rtol),
    }
    spec = {"what": what, "n_knots": n_knots, "min_pixels": 0, "margin": 0,
            "fit": {"material": mat, "rate": rate, "protocol": protocol, "theta0": theta0, "psf": psf,
                    "calibration": calibration},
            "search": {"bounds": (lo, hi), "n_scan": int(n_scan), "rtol": float(rtol)}}
    return spec, common


def _geometry(ds, labels, chosen):
    """Pixel count, equivalent radius (m), centroid (m) and edge contact of each chosen particle."""
    from ..io.images import pixel_size_of

    px = pixel_size_of(ds["mask"])
    y, x = np.asarray(ds["y"].values, float), np.asarray(ds["x"].values, float)
    out = {k: [] for k in ("pixel_count", "equivalent_radius", "centroid_y", "centroid_x", "touches_edge")}
    for k in chosen:
        iy, ix = np.nonzero(labels == k)
        out["pixel_count"].append(iy.size)
        out["equivalent_radius"].append(np.sqrt(iy.size * px * px / np.pi) if px else np.nan)
        out["centroid_y"].append(y[iy].mean())
        out["centroid_x"].append(x[ix].mean())
        out["touches_edge"].append(int(iy.min() == 0 or ix.min() == 0 or iy.max() == labels.shape[0] - 1
                                       or ix.max() == labels.shape[1] - 1))
    return {k: np.asarray(v) for k, v in out.items()}


def _row_names(spec):
    return [*_ALPHA, *(_KNOTS if spec["what"] == "diffusivity" else ()), "status", "failure", "lagging"]


def _layout(ds, labels, chosen, spec, definition) -> xr.Dataset:
    """The table before any fit: geometry filled, results NaN, status 0; the field's labels and reference frame."""
    n = len(chosen)
    geo = _geometry(ds, labels, chosen)
    units = {"pixel_count": ("1", "pixels of the particle"),
             "equivalent_radius": ("m", "radius of the disc of the particle's area"),
             "centroid_y": ("m", "centroid of the particle, y"), "centroid_x": ("m", "centroid of the particle, x"),
             "touches_edge": ("1", "1 where the particle touches the frame's border")}
    data = {k: (("particle",), geo[k], {"units": u, "long_name": ln}) for k, (u, ln) in units.items()}
    data.update(_result_vars("particle", n, spec))
    for i, (k, count) in enumerate(zip(chosen, geo["pixel_count"])):  # certain before any work: never submitted
        if count < spec["min_pixels"]:
            data["status"][1][i] = FAILED
            data["failure"][1][i] = (f"LithmapError: particle {k} has {count} pixels, fewer than min_pixels="
                                     f"{spec['min_pixels']}: too small to fit")
    ref = int(ds.attrs.get("reference_frame", 0))
    data["labels"] = (("y", "x"), labels.astype(np.int32), {"long_name": "particle label (0 = matrix)"})
    data["reference_intensity"] = (("y", "x"), np.asarray(ds["intensity"].values[ref], np.float32),
                                   {"units": ds["intensity"].attrs.get("units", "counts"),
                                    "long_name": "intensity of the reference frame"})
    coords = {"particle": ("particle", np.asarray(chosen, np.int64), {"long_name": "particle label"}),
              "y": ds["y"], "x": ds["x"]}
    attrs = {
        "title": "lithmap fits of the particles of a field (Dask)",
        "lithmap_version": __version__,
        "source": str(ds.attrs.get("source", "")),
        "fit": spec["what"],
        "material": definition["material"],
        "diffusivity": definition["diffusivity"],
        "particle_fit_definition": json.dumps(definition, sort_keys=True),
        "particle_fit_fingerprint": _fingerprint(definition),
    }
    if int(ds.attrs.get("synthetic", 0)):
        attrs["synthetic"] = 1
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _result_vars(dim: str, n: int, spec) -> dict:
    """The fitted variables of a table on ``dim`` before any fit: NaN, status 0, no failure, not lagging."""
    data = {k: ((dim,), np.full(n, np.nan), {"units": u, "long_name": ln}) for k, (u, ln) in _ALPHA.items()}
    if spec["what"] == "diffusivity":
        for k, (u, ln) in _KNOTS.items():
            data[k] = ((dim, "knot"), np.full((n, spec["n_knots"]), np.nan), {"units": u, "long_name": ln})
    data["status"] = ((dim,), np.full(n, PENDING, np.int8), {
        "long_name": f"state of the {dim}'s fit", "flag_values": np.array([PENDING, COMPUTED, FAILED], np.int8),
        "flag_meanings": "not_computed computed failed"})
    data["failure"] = ((dim,), np.full(n, "", dtype=object), {"long_name": "why the fit failed (empty when it did "
                                                                           "not)"})
    data["lagging"] = ((dim,), np.zeros(n, np.int8), {
        "long_name": f"1 where the whole alpha interval lies below the median alpha of the {dim}s (it lags)"})
    return data


def _zarr_status(path: Path, attr: str = "particle_fit_definition"):
    """Status of each row in the store, and which are too small to fit (never submitted)."""
    import zarr

    group = zarr.open_group(str(path), mode="r")
    return np.asarray(group["status"][...]), np.asarray(group["pixel_count"][...]) < int(
        json.loads(group.attrs[attr]).get("min_pixels", 0))


def _todo(status, small) -> list[int]:
    """Rows still to fit: not computed (failed ones are retried), and not too small (that failure is certain)."""
    return [i for i, (s, tiny) in enumerate(zip(status, small)) if s != COMPUTED and not tiny]


# ---------------------------------------------------------------- one particle


def _particle_result(ds: xr.Dataset, labels: np.ndarray, k: int, margin: int) -> xr.Dataset:
    """The field cut to particle ``k`` and ``margin`` pixels around it, its label as the mask."""
    iy, ix = np.nonzero(labels == k)
    ys = slice(max(int(iy.min()) - margin, 0), min(int(iy.max()) + margin + 1, labels.shape[0]))
    xs = slice(max(int(ix.min()) - margin, 0), min(int(ix.max()) + margin + 1, labels.shape[1]))
    keep = [v for v in ds.data_vars if set(ds[v].dims) <= _KEEP_DIMS and v not in ("particle", "ring", "mask")]
    sub = ds[keep].isel(y=ys, x=xs)
    mask = ds["mask"].isel(y=ys, x=xs)
    sub["mask"] = mask.copy(data=(labels[ys, xs] == k).astype(np.int8))
    sub.attrs = {**ds.attrs, "particle_label": int(k)}
    return sub.load()


def _fit_one(task: dict) -> dict:
    """One task, on a worker: the particle's α (and D(θ)) fit; a failure is its row's reason, not the task's."""
    from .compare import MovieProblem
    from .fit import fit_alpha, fit_diffusivity

    n_knots = task["n_knots"]
    row = _empty_row(task["what"], n_knots)
    pixels = int(task["result"]["mask"].values.sum())
    try:
        if pixels < task["min_pixels"]:
            raise LithmapError(f"particle {task['label']} has {pixels} pixels, fewer than min_pixels="
                               f"{task['min_pixels']}: too small to fit")
        problem = MovieProblem(task["result"], **task["fit"])
        fa = fit_alpha(problem, **task["search"])
        fit = fit_diffusivity(problem, n_knots=n_knots, alpha_fit=fa) if task["what"] == "diffusivity" else fa
    except (LithmapError, SolverError, FloatingPointError, ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
        row["status"][0], row["failure"][0] = FAILED, _reason(exc)
        return row
    for k in _ALPHA:
        row[k][0] = float(fit[k]) if k in fit else float(fit.attrs.get(k, np.nan))
    row["n_data"][0] = float(fit.attrs.get("n_data", np.nan))
    if task["what"] == "diffusivity":
        row["theta_knot"][0] = fit["theta"].values
        for k in ("diffusivity", "diffusivity_low", "diffusivity_high"):
            row[k][0] = fit[k].values
    return row


def _empty_row(what: str, n_knots: int, status=COMPUTED, failure: str = "") -> dict:
    row = {k: np.full(1, np.nan) for k in _ALPHA}
    if what == "diffusivity":
        row.update({k: np.full((1, n_knots), np.nan) for k in _KNOTS})
    row["status"], row["failure"] = np.full(1, status, np.int8), np.full(1, failure, dtype=object)
    return row


def _failed_row(spec, exc) -> dict:
    return _empty_row(spec["what"], spec["n_knots"], FAILED, _reason(exc))


def _task_key(definition: dict, label: int) -> str:
    """Deterministic: the same particle of the same fit always has the same key."""
    common = {k: v for k, v in definition.items() if k != "particles"}
    digest = hashlib.sha256(json.dumps([common, int(label)], sort_keys=True).encode()).hexdigest()[:20]
    return f"lithmap-particle-{digest}"


def _run(client, status, small, spec, definition, arrays, where, say, progress):
    """Submit every particle still to fit and write each row into ``arrays`` as it arrives."""
    ds, labels = spec["field"], spec["labels"]
    chosen = definition["particles"]
    todo = _todo(status, small)
    n, done = len(chosen), int(np.sum(status == COMPUTED))
    retried = int(np.sum((status == FAILED) & ~small))
    notes = [f"{done} of {n} already in {where}"] if done else []
    notes += [f"{retried} failed before and {'is' if retried == 1 else 'are'} retried"] if retried else []
    notes += [f"{int(small.sum())} too small to fit"] if small.any() else []
    nworkers = _n_workers(client)
    say(f"fitting {len(todo)} particle{'s' * (len(todo) != 1)}{' (' + '; '.join(notes) + ')' if notes else ''} on "
        f"{nworkers} worker{'s' * (nworkers != 1)}")
    _submit(client, {i: ({"label": chosen[i], "result": _particle_result(ds, labels, chosen[i], spec["margin"])},
                         _task_key(definition, chosen[i])) for i in todo}, spec, arrays, progress)


def _submit(client, tasks: dict, spec, arrays, progress):
    """Run ``tasks`` (row → (its result and label, task key)) as :func:`_fit_one` tasks and write each row into
    ``arrays`` as it arrives (a task that could not run at all is its row's failure)."""
    submitted = {}
    for i, (task, key) in tasks.items():
        task = {**task, "what": spec["what"], "n_knots": spec["n_knots"], "min_pixels": spec["min_pixels"],
                "fit": spec["fit"], "search": spec["search"]}
        fut = client.submit(_fit_one, task, key=key, pure=False)
        submitted[fut.key] = (fut, i)

    def arrived(i, row):
        for name, arr in arrays.items():
            arr[i:i + 1] = row[name]
        if progress is not None:
            progress(1)

    _gather(client, submitted, arrived, lambda i, exc: _failed_row(spec, exc))


# ---------------------------------------------------------------- statistics


def _statistics(alpha, low, high, radius, ok, noun: str = "particle") -> dict:
    """Inter-particle statistics over the computed particles (or movies: ``noun``; see :func:`fit_particles`)."""
    from scipy import stats

    a, lo, hi, r = alpha[ok], low[ok], high[ok], radius[ok]
    n = int(a.size)
    out = {"n_computed": n, "alpha_median": float(np.median(a)) if n else np.nan,
           "alpha_spread": float(np.std(np.log(a), ddof=1)) if n > 1 else np.nan,
           "alpha_heterogeneity_p": np.nan, "spearman_rho_alpha_radius": np.nan, "spearman_p_alpha_radius": np.nan}
    if n > 1:
        sd = (np.log(hi) - np.log(lo)) / (2 * 1.959963984540054)  # the 95 % intervals as σ of ln α
        w = 1.0 / np.maximum(sd, 1e-12) ** 2
        mean = float(np.sum(w * np.log(a)) / np.sum(w))
        out["alpha_heterogeneity_p"] = float(stats.chi2.sf(float(np.sum(w * (np.log(a) - mean) ** 2)), n - 1))
    if n >= 3 and np.ptp(r) > 0 and np.ptp(a) > 0:
        rho, p = stats.spearmanr(r, a)
        out["spearman_rho_alpha_radius"], out["spearman_p_alpha_radius"] = float(rho), float(p)
    lag = ok & (high < out["alpha_median"])
    if n < 4:
        text = f"{n} {noun}{'s' * (n != 1)} fitted: too few to tell size from wiring"
    else:
        size = out["spearman_p_alpha_radius"] < 0.05
        text = (f"alpha {'follows' if size else 'does not follow'} particle size (Spearman rho "
                f"{out['spearman_rho_alpha_radius']:.2f}, p {out['spearman_p_alpha_radius']:.2g}); "
                f"{int(lag.sum())} of {n} {noun}s lag beyond their intervals"
                + ("" if size or not lag.any() else ": not explained by size, look at their wiring "
                   "(Xu, Merryweather et al., Joule 2022, fig. S7)"))
    out["interpretation"] = text
    return out, lag


def _summarise(ds: xr.Dataset) -> xr.Dataset:
    """The statistics into the attrs and ``lagging`` of a table (in memory)."""
    noun = "movie" if "movie" in ds.dims else "particle"
    ok = (ds["status"].values == COMPUTED) & np.isfinite(ds["alpha"].values)
    stats, lag = _statistics(ds["alpha"].values, ds["alpha_low"].values, ds["alpha_high"].values,
                             ds["equivalent_radius"].values, ok, noun)
    ds["lagging"].values[:] = lag.astype(np.int8)
    ds.attrs.update(stats)
    ds.attrs["statistics_method"] = (
        f"over the computed {noun}s: alpha_median; alpha_spread = sd of ln alpha; alpha_heterogeneity_p = "
        "chi2 test that all share one alpha, sd of ln alpha from each 95 % interval / 3.92; Spearman rank "
        "correlation of alpha with equivalent_radius (scipy.stats.spearmanr, n >= 3)")
    ds["failure"] = ds["failure"].copy(data=np.array(ds["failure"].values.tolist(), dtype=str))
    return ds


def _finish_store(path: Path):
    """The statistics of what the store holds now into its attrs and ``lagging``."""
    import zarr

    ds = _summarise(_read(path, _TEXT))
    group = zarr.open_group(str(path), mode="r+", zarr_format=2)
    group["lagging"][...] = ds["lagging"].values
    group.attrs.update({k: v for k, v in ds.attrs.items() if k not in group.attrs or k in (
        "n_computed", "alpha_median", "alpha_spread", "alpha_heterogeneity_p", "spearman_rho_alpha_radius",
        "spearman_p_alpha_radius", "interpretation", "statistics_method")})
    zarr.consolidate_metadata(str(path))


# ---------------------------------------------------------------- many movies


def fit_movies(results, store=None, *, what: str = "alpha", material=None, diffusivity=None, rate=None,
               protocol=None, theta0=None, psf="auto", calibration: str = "fit", n_knots: int = 6,
               bounds=(0.2, 20.0), n_scan: int = 7, rtol: float = 0.01, scheduler: str | None = None,
               workers: int | None = None, overwrite: bool = False, connect_timeout: float = 5.0, progress=None,
               log=None) -> xr.Dataset:
    """Fit α (and D(θ)) of several single-particle movies, each movie one Dask task.

    Each ``lithmap contrast`` result (one particle, its ``mask``) is fitted by
    :func:`lithmap.fit_alpha` (with ``what="diffusivity"`` then :func:`lithmap.fit_diffusivity`)
    as one task, on the cluster, with the resumable Zarr store and the status/failure convention
    of :func:`fit_particles`; the table is that of :func:`fit_particles` on dim ``movie``, so the
    particles of many movies (Xu, Merryweather et al., Joule 2022: more than 50 particles in seven
    electrodes) are compared as the particles of one field are. Every result is read and checked
    before any work: a bad one stops the run, naming it, before anything is written.

    Parameters
    ----------
    results : sequence of xarray.Dataset or path
        ``lithmap contrast`` results (:func:`lithmap.analyse_movie`): ``mask`` on (y, x),
        ``intensity`` and ``total_contrast`` on (time, y, x) (``theta`` with ``calibration="result"``).
    store : str or Path, optional
        A Zarr store (``fits.zarr``) written as the movies finish; default: in memory only.
    what, material, diffusivity, rate, protocol, theta0, psf, calibration, n_knots, bounds, n_scan, rtol
        As for :func:`fit_particles` (the same for every movie); ``calibration="result"`` compares
        each result's own calibrated θ.
    scheduler, workers, overwrite, connect_timeout, progress, log
        As for :func:`fit_particles` (``progress`` is called with 1 as each movie's task finishes).

    Returns
    -------
    xarray.Dataset
        The table of :func:`fit_particles` on dim ``movie`` (coordinate: each result's file name,
        or ``movie{i}`` for an in-memory Dataset without a distinct ``source``): ``alpha``,
        ``alpha_low``, ``alpha_high``, ``misfit``, ``n_data``, ``psf_fwhm``, ``pixel_count``,
        ``equivalent_radius`` (m), ``lagging``, ``status``, ``failure`` (and the D(θ) knots);
        attrs: the same statistics over the computed movies, ``movie_fit_definition`` (JSON)
        and ``movie_fit_fingerprint``.

    Raises
    ------
    LithmapError
        A result that is missing or not a contrast result (named), fewer than one result, the
        same movie twice, invalid options, an unreachable scheduler or a store of another fit —
        each before anything is written.

    Examples
    --------
    >>> fit_movies(["no/such/a.nc", "b.nc"], material="nmc811", rate="C/3")
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: result file 'no/such/a.nc' does not exist
    """
    from ..io.images import pixel_size_of
    from ..io.results import read_result
    from .compare import _contrast_result

    say = log or (lambda line: None)
    if isinstance(results, (str, Path, xr.Dataset)):
        results = [results]
    results = list(results)
    if not results:
        raise LithmapError("give at least one contrast result to fit")
    if what not in PARTICLE_FITS:
        raise LithmapError(f"what={what!r} is invalid; expected one of {list(PARTICLE_FITS)}")
    if calibration not in ("fit", "result"):
        raise LithmapError(f"calibration={calibration!r} is invalid; expected 'fit' or 'result'")
    _check_cluster(scheduler, workers)
    if isinstance(n_knots, bool) or int(n_knots) != n_knots or n_knots < 2:
        raise LithmapError(f"n_knots={n_knots!r} is invalid; expected a whole number >= 2")
    datasets, names = [], []
    for i, res in enumerate(results):
        ds = read_result(res) if not isinstance(res, xr.Dataset) else res
        label = f"{str(res)!r}" if not isinstance(res, xr.Dataset) else f"result {i}"
        try:
            ds = _contrast_result(ds, calibration)
        except LithmapError as exc:
            raise LithmapError(str(exc).replace("result", label, 1) if str(exc).startswith("result") else
                               f"{label}: {exc}") from None
        datasets.append(ds.load())
        names.append(Path(str(res)).name if not isinstance(res, xr.Dataset) else
                     Path(str(ds.attrs.get("source", ""))).name or f"movie{i}")
    if len(set(names)) != len(names):  # the same name from two folders: the paths tell them apart
        names = [str(r) if not isinstance(r, xr.Dataset) else f"movie{i}" for i, r in enumerate(results)]
    if len(set(names)) != len(names):
        names = [f"movie{i}" for i in range(len(results))]
    digests = [_digest(ds["mask"].values, ds["time"].values,
                       *(ds[v].values for v in ("intensity", "total_contrast", "theta") if v in ds)) for ds in datasets]
    for j, d in enumerate(digests):
        if d in digests[:j]:
            raise LithmapError(f"{names[j]!r} is the same movie as {names[digests.index(d)]!r}; give each movie once")
    spec, common = _options(datasets, what=what, material=material, diffusivity=diffusivity, rate=rate,
                            protocol=protocol, theta0=theta0, psf=psf, calibration=calibration,
                            n_knots=int(n_knots), bounds=bounds, n_scan=n_scan, rtol=rtol)
    definition = {"fit": what, "calibration": calibration, **common, "lithmap_version": __version__,
                  "movies": names, "movie_digests": digests}
    attr = "movie_fit_definition"
    n = len(datasets)
    count = np.array([int(np.asarray(ds["mask"].values).astype(bool).sum()) for ds in datasets])
    px = np.array([pixel_size_of(ds["mask"]) or np.nan for ds in datasets], float)
    data = {"pixel_count": (("movie",), count, {"units": "1", "long_name": "pixels of the particle's mask"}),
            "equivalent_radius": (("movie",), np.sqrt(count * px * px / np.pi),
                                  {"units": "m", "long_name": "radius of the disc of the particle's area"})}
    data.update(_result_vars("movie", n, spec))
    attrs = {"title": "lithmap fits of several movies (Dask)", "lithmap_version": __version__, "fit": what,
             "material": common["material"], "diffusivity": common["diffusivity"],
             attr: json.dumps(definition, sort_keys=True), "movie_fit_fingerprint": _fingerprint(definition)}
    if all(int(ds.attrs.get("synthetic", 0)) for ds in datasets):
        attrs["synthetic"] = 1
    layout = xr.Dataset(data, coords={"movie": ("movie", np.asarray(names, dtype=str), {
        "long_name": "the contrast result's file name"})}, attrs=attrs)

    def run(client, status, arrays, where):
        todo = [i for i in range(n) if status[i] != COMPUTED]
        done, retried = n - len(todo), int(np.sum(status == FAILED))
        notes = [f"{done} of {n} already in {where}"] if done else []
        notes += [f"{retried} failed before and {'is' if retried == 1 else 'are'} retried"] if retried else []
        nworkers = _n_workers(client)
        say(f"fitting {len(todo)} movie{'s' * (len(todo) != 1)}{' (' + '; '.join(notes) + ')' if notes else ''} on "
            f"{nworkers} worker{'s' * (nworkers != 1)}")
        _submit(client, {i: ({"label": names[i], "result": datasets[i]}, _movie_key(definition, i)) for i in todo},
                spec, arrays, progress)

    if store is None:
        arrays = {v: layout[v].values for v in _row_names(spec) if v != "lagging"}
        with _connect(scheduler, workers, connect_timeout) as client:
            run(client, arrays["status"].copy(), arrays, "memory")
        return _summarise(layout)
    path = Path(store)
    if not path.parent.exists():
        raise LithmapError(f"output folder {str(path.parent)!r} does not exist")
    resume = path.exists() and not overwrite
    if resume:
        _check_store(path, definition, attr=attr, what="movie fit", lists=())
        status, _ = _zarr_status(path, attr)
        if not (status != COMPUTED).any():  # nothing to do: no cluster is started or contacted
            say(f"{n} of {n} movies already in {path.name}; nothing to compute")
            return _movie_table(_read(path, _TEXT))
    with _connect(scheduler, workers, connect_timeout) as client:
        if not resume:
            if path.exists():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            _write_layout(path, layout, {v: {"chunks": (1,) + layout[v].shape[1:]} for v in layout.data_vars})
        import zarr

        arrays = {v: zarr.open_array(str(path / v), mode="r+", zarr_format=2)
                  for v in _row_names(spec) if v != "lagging"}
        status, _ = _zarr_status(path, attr)
        try:
            run(client, status, arrays, path.name)
        finally:
            _finish_store(path)
    return _movie_table(_read(path, _TEXT))


def _movie_table(ds: xr.Dataset) -> xr.Dataset:
    """A table read back from its store, the ``movie`` names as str."""
    return ds.assign_coords(movie=ds["movie"].copy(data=np.asarray(ds["movie"].values.tolist(), dtype=str)))


def _movie_key(definition: dict, i: int) -> str:
    """Deterministic: the same movie of the same fit always has the same key."""
    common = {k: v for k, v in definition.items() if k not in ("movies", "movie_digests")}
    digest = hashlib.sha256(json.dumps([common, definition["movie_digests"][i]], sort_keys=True).encode())
    return f"lithmap-movie-{digest.hexdigest()[:20]}"
