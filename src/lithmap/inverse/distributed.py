"""Sweeps on a Dask cluster, resumable: every block of cases is one ``dask.distributed`` task,
and its results land in a Zarr store as soon as it finishes.

The store's layout (dims ``radius``, ``alpha``, ``rate``; the variables of
:func:`lithmap.sweep`) is declared before any work, with a ``status`` per case (0 not yet
computed, 1 computed, 2 failed) and the reason of a failure (xarray's ``to_zarr``, Zarr format 2, one
chunk per task). Each finished task is written into its own region of that layout by the client,
so the workers need no access to the store, and a task that is run twice (its worker was lost
after it finished) still lands once. Task keys are hashes of the cases and the sweep's definition.
Rerunning the same sweep on the same store computes only the cases that are not yet computed
(failed cases are retried); a store written by a different sweep is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
from pathlib import Path

import numpy as np
import xarray as xr

from .. import __version__
from ..errors import LithmapError, SolverError

#: ``status`` of a case in the store.
PENDING, COMPUTED, FAILED = 0, 1, 2

_DIMS = ("radius", "alpha", "rate")
_END = {  # the end-state variables of lithmap.sweep: (units, long name)
    "stop_time": ("s", "time at which the run ended"),
    "theta_mean_end": ("1", "particle-average lithium fraction when the run ended"),
    "theta_surface_end": ("1", "surface lithium fraction when the run ended"),
    "theta_centre_end": ("1", "centre lithium fraction when the run ended"),
}
_TEXT = {
    "termination": "why the run ended (protocol complete, or the surface limit reached)",
    "failure": "why the case failed (empty when it did not)",
}


def distributed_sweep(
    store,
    shape: str = "sphere",
    *,
    radius,
    alpha,
    rate,
    protocol: str = "Charge at {rate} for 1 hour",
    material=None,
    diffusivity=None,
    theta0: float = 0.97,
    mesh_options: dict | None = None,
    options=None,
    surface_limits=None,
    stop_at_limit: bool = True,
    scheduler: str | None = None,
    workers: int | None = None,
    cases_per_task: int | None = None,
    overwrite: bool = False,
    connect_timeout: float = 5.0,
    progress=None,
    log=None,
) -> xr.Dataset:
    """Run :func:`lithmap.sweep` case by case on a Dask cluster into a resumable Zarr store.

    Each task solves one block of cases (a few radii × alphas × rates, at most
    ``cases_per_task``) with :func:`lithmap.sweep`, so the physics and its numbers are exactly
    those of the single-process sweep. Results are written into ``store`` as each task finishes;
    a rerun computes only the cases whose ``status`` is not 1 and says so.

    Parameters
    ----------
    store : str or Path
        A Zarr store (a folder, ``sweep.zarr``). Created when missing; resumed when it holds the
        same sweep; refused when it holds another (pass ``overwrite`` to start again).
    shape, radius, alpha, rate, protocol, material, diffusivity, theta0, mesh_options, options, surface_limits, \
stop_at_limit
        As for :func:`lithmap.sweep` (end states only: no ``times`` traces).
    scheduler : str, optional
        Address of a running scheduler, ``"tcp://HOST:PORT"``. The workers need lithmap
        installed; they need no access to the store (the client writes it).
    workers : int, optional
        Start a local cluster of this many worker processes, one thread each (without
        ``scheduler``; default: one per available core).
    cases_per_task : int, optional
        Cases solved together in one task (default: about four tasks per worker, at most 100
        cases each: the engine solves big batches faster per run). Fixed when the store is
        created (its Zarr chunks are the blocks): a resumed store keeps its blocks.
    overwrite : bool
        Replace a store that holds another sweep (or anything else).
    connect_timeout : float
        Seconds to wait for ``scheduler`` before giving up.
    progress : callable, optional
        Called with the number of cases each finished task adds.
    log : callable, optional
        Called with one line of text: what is already in the store, what is computed now.

    Returns
    -------
    xarray.Dataset
        The store's content on dims (radius, alpha, rate): ``stop_time`` (s),
        ``theta_mean_end``, ``theta_surface_end``, ``theta_centre_end``, ``termination`` as for
        :func:`lithmap.sweep` (NaN / empty where not computed), ``status`` (int8: 0 not computed,
        1 computed, 2 failed) and ``failure`` (the reason, or empty). Attrs give the sweep's
        definition (``sweep_definition``, JSON; ``sweep_fingerprint``) and ``sweep_cases_written``,
        the number of case results (computed or failed) ever written to the store.

    Raises
    ------
    LithmapError
        Invalid input, an unreachable scheduler, or a store written by a different sweep — each
        before anything is written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:  # doctest: +SKIP
    ...     ds = distributed_sweep(f"{d}/sweep.zarr", radius="0.5um,1um", alpha=[1.0], rate="0.5,1",
    ...                            protocol="Charge at {rate} for 6 minutes", diffusivity=1e-15, theta0=0.9,
    ...                            workers=2)
    ...     ds.status.values.ravel().tolist()
    [1, 1, 1, 1]
    """
    say = log or (lambda line: None)
    path = Path(store)
    spec, definition = _definition(shape, radius, alpha, rate, protocol, material, diffusivity, theta0,
                                   mesh_options, options, surface_limits, stop_at_limit)
    _check_cluster(scheduler, workers)
    if cases_per_task is not None and (int(cases_per_task) != cases_per_task or cases_per_task < 1):
        raise LithmapError(f"cases_per_task={cases_per_task!r} is invalid; expected a positive whole number")
    if not path.parent.exists():
        raise LithmapError(f"output folder {str(path.parent)!r} does not exist")
    resume = path.exists() and not overwrite
    if resume:
        _check_store(path, definition)
    if resume and not _missing(path):  # nothing to do: no cluster is started or contacted
        n = int(np.prod([spec[d].size for d in _DIMS]))
        say(f"{n} of {n} cases already in {path.name}; nothing to compute")
        return _read(path)
    with _connect(scheduler, workers, connect_timeout) as client:
        if not resume:
            if path.exists():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            _declare(path, spec, definition, cases_per_task or _default_cases_per_task(spec, _n_workers(client)))
        _run(client, path, spec, definition, say, progress)
    return _read(path)


def sweep_cases(radius, alpha, rate) -> int | None:
    """How many cases a sweep has (for a progress bar), or None when its values are not valid
    (the sweep itself then says why).

    Parameters
    ----------
    radius, alpha, rate : array_like or str
        The sweep's values, as for :func:`lithmap.sweep` (``"0.5um,1um"``, ``"C/3,1C"``...).

    Returns
    -------
    int or None
        The number of (radius, alpha, rate) cases.

    Examples
    --------
    >>> sweep_cases("0.5um,1um,2um", "1,2", "C/3,1C")
    12
    >>> sweep_cases("0.5um", "1", "fast") is None
    True
    """
    from ..physics.simulate import _alpha_value, _radius_value, _rate_value, _values

    try:
        return _values(radius, _radius_value).size * _values(alpha, _alpha_value).size * _values(rate, _rate_value).size
    except LithmapError:
        return None


def _missing(path: Path) -> int:
    import zarr

    return int(np.sum(np.asarray(zarr.open_group(str(path), mode="r")["status"][...]) != COMPUTED))


# ---------------------------------------------------------------- the sweep's definition


def _definition(shape, radius, alpha, rate, protocol, material, diffusivity, theta0, mesh_options, options,
                surface_limits, stop_at_limit):
    """Check everything a task will need, on the client, before any work; return the task spec
    (objects for the workers) and the definition (JSON-able, what the store records)."""
    from ..physics.experiment import SurfaceLimits
    from ..physics.geometry import Cylinder, Sphere
    from ..physics.protocol import parse_protocol
    from ..physics.simulate import _alpha_value, _radius_value, _rate_value, _values, resolve_material
    from ..physics.solver import SolverOptions

    if shape not in ("sphere", "cylinder"):
        raise LithmapError(f"shape={shape!r} is invalid for a sweep; expected one of ['sphere', 'cylinder']")
    radius = _values(radius, _radius_value)
    alpha = _values(alpha, _alpha_value)
    rate = _values(rate, _rate_value)
    for name, vals in (("radius", radius), ("alpha", alpha), ("rate", rate)):
        if vals.size == 0:
            raise LithmapError(f"{name} is empty; give at least one value")
        if np.unique(vals).size != vals.size:
            raise LithmapError(f"{name} has repeated values ({vals.tolist()}); each case must be distinct")
    if not isinstance(protocol, str) or "{rate}" not in protocol:
        raise LithmapError(f"protocol={protocol!r} needs a '{{rate}}' placeholder for the sweep's C-rates")
    if np.any(~(rate > 0)):
        raise LithmapError(f"rate={float(rate[~(rate > 0)][0])!r} is invalid; expected positive C-rates")
    for c in rate:
        parse_protocol(protocol.replace("{rate}", f"{float(c)!r}C"))
    mat = resolve_material(material, diffusivity)  # on the client: a CSV table need not exist on the workers
    opts = options or SolverOptions()
    limits = SurfaceLimits.of(surface_limits, stop=stop_at_limit)
    geom = Sphere if shape == "sphere" else Cylinder
    geom(1.0).mesh(**(mesh_options or {}))  # a bad mesh option fails here, not in every task
    theta0 = float(theta0)
    if not (np.isfinite(theta0) and 0.0 <= theta0 <= 1.0):
        raise LithmapError(f"theta0={theta0!r} is invalid; expected a lithium fraction in [0, 1]")
    grid = np.linspace(0.0, 1.0, 201)
    d_values = np.asarray(mat.diffusivity(grid), dtype=float) * float(mat.alpha)
    definition = {
        "shape": shape,
        "protocol": protocol,
        "material": mat.name,
        "diffusivity": repr(mat.diffusivity),
        "diffusivity_values": hashlib.sha256(np.ascontiguousarray(d_values).tobytes()).hexdigest()[:16],
        "theta0": theta0,
        "mesh_options": json.dumps(mesh_options or {}, sort_keys=True, default=str),
        # the numerics only: how many threads ran them does not make a different sweep
        "solver_options": json.dumps({k: v for k, v in dataclasses.asdict(opts).items() if k != "threads"},
                                     sort_keys=True, default=str),
        "surface_limits": [float(limits.low), float(limits.high), limits.on_limit],
        "lithmap_version": __version__,
        "radius": radius.tolist(),
        "alpha": alpha.tolist(),
        "rate": rate.tolist(),
    }
    spec = {
        "shape": shape, "radius": radius, "alpha": alpha, "rate": rate, "protocol": protocol, "material": mat,
        "theta0": theta0, "mesh_options": mesh_options, "options": opts, "surface_limits": surface_limits,
        "stop_at_limit": stop_at_limit,
    }
    return spec, definition


def _fingerprint(definition: dict) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()


def _check_store(path: Path, definition: dict, *, attr: str = "sweep_definition", what: str = "sweep",
                 lists=_DIMS):
    """Refuse a store that is not this run's (its ``attr`` holds the definition, JSON), naming the first
    field that differs; the fields in ``lists`` are shown shortened."""
    import zarr

    hint = "choose another --out or pass --overwrite to start again"
    try:
        attrs = dict(zarr.open_group(str(path), mode="r").attrs)
        old = json.loads(attrs[attr])
    except Exception:
        raise LithmapError(f"{str(path)!r} exists and is not a lithmap {what} store; {hint}") from None
    for key in definition:
        if old.get(key) != definition[key]:
            have, want = old.get(key), definition[key]
            if key in lists:
                have, want = _short(have), _short(want)
            raise LithmapError(f"{str(path)!r} holds a different {what}: its {key} is {have!r}, this {what}'s is "
                               f"{want!r}; {hint}")


def _short(values):
    if not isinstance(values, list):
        return values
    text = ",".join(f"{v:g}" for v in values[:6])
    return f"{len(values)} values: {text}" + (",..." if len(values) > 6 else "")


# ---------------------------------------------------------------- the cluster


def _check_cluster(scheduler, workers):
    """A scheduler address or a number of local workers (or neither), checked before any work."""
    if scheduler is not None and workers is not None:
        raise LithmapError("give a scheduler address or a number of local workers, not both")
    if workers is not None and (isinstance(workers, bool) or int(workers) != workers or workers < 1):
        raise LithmapError(f"workers={workers!r} is invalid; expected a positive whole number")


class _connect:
    """A Client on an existing scheduler, or on a LocalCluster started (and closed) here."""

    def __init__(self, scheduler, workers, timeout):
        self.scheduler, self.workers, self.timeout = scheduler, workers, timeout
        self.cluster = self.client = None

    def __enter__(self):
        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            address = str(self.scheduler)
            try:
                self.client = Client(address, timeout=f"{self.timeout}s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise LithmapError(f"scheduler {address!r} is unreachable ({reason}); start one with "
                                   f"'dask scheduler', or leave out --scheduler for a local cluster") from None
            return self.client
        n = self.workers or default_workers()
        self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                    silence_logs=logging.ERROR)
        self.client = Client(self.cluster, set_as_default=False)
        return self.client

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False


def default_workers() -> int:
    """Local workers when none are asked for: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------- the store


def _blocks(shape3, chunks):
    for i in range(0, shape3[0], chunks[0]):
        for j in range(0, shape3[1], chunks[1]):
            for k in range(0, shape3[2], chunks[2]):
                yield tuple(slice(a, min(a + c, n)) for a, c, n in zip((i, j, k), chunks, shape3))


def _n_workers(client) -> int:
    return len(client.scheduler_info(n_workers=-1).get("workers", {}))


def _default_cases_per_task(spec, n_workers: int) -> int:
    """About four tasks per worker (a lost worker or an uneven task costs little), at most 100 cases each:
    the engine solves a batch of 50-100 runs at half the cost per run of batches of 10."""
    n = int(np.prod([spec[d].size for d in _DIMS]))
    return min(100, max(1, math.ceil(n / (4 * max(1, n_workers)))))


def _chunks(shape3, per):
    """Block shape over (radius, alpha, rate) of at most ``per`` cases: rates first, then alphas, then radii."""
    ck = min(shape3[2], per)
    ca = min(shape3[1], max(1, per // ck))
    cr = min(shape3[0], max(1, per // (ck * ca)))
    return (cr, ca, ck)


def _declare(path: Path, spec, definition, cases_per_task):
    """Write the whole layout (NaN, status 0) before any work: regions are then filled in place."""
    shape3 = tuple(spec[d].size for d in _DIMS)
    chunks = _chunks(shape3, cases_per_task)
    data = {name: (_DIMS, np.full(shape3, np.nan), {"units": u, "long_name": ln}) for name, (u, ln) in _END.items()}
    for name, long_name in _TEXT.items():
        data[name] = (_DIMS, np.full(shape3, "", dtype=object), {"long_name": long_name})
    data["status"] = (_DIMS, np.zeros(shape3, dtype=np.int8), {
        "long_name": "state of the case", "flag_values": np.array([PENDING, COMPUTED, FAILED], dtype=np.int8),
        "flag_meanings": "not_computed computed failed"})
    coords = {"radius": ("radius", spec["radius"], {"units": "m"}), "alpha": ("alpha", spec["alpha"], {"units": "1"}),
              "rate": ("rate", spec["rate"], {"units": "C"})}
    attrs = {
        "title": "lithmap particle sweep (resumable, Dask)",
        "lithmap_version": __version__,
        "geometry": f"{spec['shape']} sweep",
        "protocol_template": spec["protocol"],
        "material": definition["material"],
        "diffusivity": definition["diffusivity"],
        "theta0": definition["theta0"],
        "sweep_definition": json.dumps(definition, sort_keys=True),
        "sweep_fingerprint": _fingerprint(definition),
        "sweep_cases_written": 0,
    }
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    _write_layout(path, ds, {name: {"chunks": chunks} for name in ds.data_vars})


def _write_layout(path: Path, ds: xr.Dataset, encoding: dict):
    """Write a declared layout as a Zarr (format 2, consolidated) store, atomically: a half-declared layout
    never carries the store's name."""
    tmp = path.with_name(path.name + ".declaring")
    if tmp.exists():
        shutil.rmtree(tmp)
    ds.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True, encoding=encoding)
    os.replace(tmp, path)


def _read(path: Path, text=tuple(_TEXT)) -> xr.Dataset:
    """The store in memory (numpy: no Dask client needed), its ``text`` variables as str arrays."""
    ds = xr.open_zarr(str(path), consolidated=True, chunks=None).load()
    for name in text:
        ds[name] = ds[name].copy(data=np.array(ds[name].values.tolist(), dtype=str).reshape(ds[name].shape))
    return ds


# ---------------------------------------------------------------- the work


def _task_key(definition: dict, spec, region) -> str:
    """Deterministic: the same cases of the same sweep always have the same key."""
    common = {k: v for k, v in definition.items() if k not in _DIMS}
    cases = [spec[d][s].tolist() for d, s in zip(_DIMS, region)]
    digest = hashlib.sha256(json.dumps([common, cases], sort_keys=True).encode()).hexdigest()[:20]
    return f"lithmap-sweep-{digest}"


def _run(client, path: Path, spec, definition, say, progress):
    import zarr

    group = zarr.open_group(str(path), mode="r")
    status = np.asarray(group["status"][...])
    chunks = group["status"].chunks
    n = status.size
    done = int(np.sum(status == COMPUTED))
    todo = [r for r in _blocks(status.shape, chunks) if np.any(status[r] != COMPUTED)]
    name = path.name
    if not todo:
        say(f"{done} of {n} cases already in {name}; nothing to compute")
        return
    missing = int(np.sum(status != COMPUTED))
    retried = int(np.sum(status == FAILED))
    retry = f"; {retried} failed before and are retried" if retried else ""
    already = f" ({done} of {n} already in {name}{retry})"
    nworkers = _n_workers(client)
    say(f"computing {missing} missing case{'s' * (missing != 1)}{already if done or retried else ''} in "
        f"{len(todo)} task{'s' * (len(todo) != 1)} on {nworkers} worker{'s' * (nworkers != 1)}")
    blocks = {}
    for region in todo:
        task = {k: v for k, v in spec.items() if k not in _DIMS}
        task.update({d: spec[d][s] for d, s in zip(_DIMS, region)})
        fut = client.submit(_solve_block, task, key=_task_key(definition, spec, region), pure=False)
        blocks[fut.key] = (fut, region)
    state = {"computed": 0, "attrs": None}
    arrays = {name: zarr.open_array(str(path / name), mode="r+", zarr_format=2) for name in (*_END, *_TEXT, "status")}

    def arrived(region, result):
        _write_region(arrays, region, result)
        cases = int(np.prod(result["status"].shape))
        state["computed"] += cases
        if state["attrs"] is None and result.get("attrs"):
            state["attrs"] = result["attrs"]
        if progress is not None:
            progress(cases)

    try:
        _gather(client, blocks, arrived,
                lambda region, exc: _failed_block(tuple(s.stop - s.start for s in region), exc))
    finally:
        _finish(path, state["computed"], state["attrs"])


def _gather(client, submitted: dict, arrived, failed):
    """Hand each finished task's result to ``arrived(payload, result)`` as it finishes (``submitted``: task key →
    (future, payload)); a task that could not run at all (e.g. KilledWorker: its workers kept dying) arrives as
    ``failed(payload, exception)``. Whatever is left is cancelled on the way out (an interrupt, an error)."""
    from distributed import as_completed

    try:
        for fut in as_completed([f for f, _ in submitted.values()], loop=client.loop):
            payload = submitted[fut.key][1]
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - recorded as the task's failure
                result = failed(payload, exc)
            arrived(payload, result)
    finally:
        for fut, _ in submitted.values():
            fut.cancel()


def _solve_block(task: dict) -> dict:
    """One task, on a worker: the block's cases in one :func:`lithmap.sweep`; when that fails,
    case by case, so one failing case does not take its neighbours with it."""
    from ..physics.simulate import sweep

    shape3 = tuple(task[d].size for d in _DIMS)

    def solve(radius, alpha, rate):
        return sweep(task["shape"], radius=radius, alpha=alpha, rate=rate, protocol=task["protocol"],
                     material=task["material"], theta0=task["theta0"], mesh_options=task["mesh_options"],
                     options=dataclasses.replace(task["options"], threads=1),  # Dask runs one task per core
                     surface_limits=task["surface_limits"], stop_at_limit=task["stop_at_limit"])

    out = {name: np.full(shape3, np.nan) for name in _END}
    out["termination"] = np.full(shape3, "", dtype=object)
    out["failure"] = np.full(shape3, "", dtype=object)
    out["status"] = np.full(shape3, COMPUTED, dtype=np.int8)
    out["attrs"] = None
    try:
        ds = solve(task["radius"], task["alpha"], task["rate"])
        cases = [((slice(None),) * 3, ds)]
    except (LithmapError, SolverError, FloatingPointError, ArithmeticError, ValueError) as exc:
        if int(np.prod(shape3)) == 1:
            return _failed_block(shape3, exc)
        cases = []
        for idx in np.ndindex(*shape3):
            try:
                one = solve(*(task[d][[i]] for d, i in zip(_DIMS, idx)))
                cases.append((tuple(slice(i, i + 1) for i in idx), one))
            except (LithmapError, SolverError, FloatingPointError, ArithmeticError, ValueError) as err:
                out["status"][idx] = FAILED
                out["failure"][idx] = _reason(err)
    for where, ds in cases:
        for name in _END:
            out[name][where] = ds[name].values
        out["termination"][where] = ds["termination"].values.astype(object)
        if out["attrs"] is None:
            out["attrs"] = {k: v for k, v in ds.attrs.items() if isinstance(v, (str, int, float))}
    return out


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")[:500]


def _failed_block(shape3, exc) -> dict:
    out = {name: np.full(shape3, np.nan) for name in _END}
    out["termination"] = np.full(shape3, "", dtype=object)
    out["failure"] = np.full(shape3, _reason(exc), dtype=object)
    out["status"] = np.full(shape3, FAILED, dtype=np.int8)
    out["attrs"] = None
    return out


def _write_region(arrays, region, result: dict):
    """One finished block into its region of the declared layout (the layout and its encoding were written by
    xarray's ``to_zarr`` in :func:`_declare`: float64 with NaN fill, int8, variable-length UTF-8). The arrays are
    written directly: ``Dataset.to_zarr(region=...)`` re-reads the whole store's metadata at every call, 20-45 ms
    a block on a busy 2-core machine, a sixth of a 1-worker sweep's time; this costs ~1 ms a variable."""
    for name, arr in arrays.items():
        arr[region] = result[name]


def _finish(path: Path, computed: int, attrs: dict | None):
    """Count what was written and record the solver's own attrs (mesh, tolerance) once known."""
    import zarr

    group = zarr.open_group(str(path), mode="r+", zarr_format=2)
    new = {"sweep_cases_written": int(group.attrs.get("sweep_cases_written", 0)) + computed}
    if attrs and "solver" not in group.attrs:
        keep = ("mesh_nodes", "mesh_min_spacing", "solver", "solver_tol", "c_rate_convention", "capacity_fraction",
                "flux_convention", "attr_units")
        new.update({k: attrs[k] for k in keep if k in attrs})
        new.update({k: v for k, v in attrs.items() if k.startswith("material_")})
    group.attrs.update(new)
    zarr.consolidate_metadata(str(path))
