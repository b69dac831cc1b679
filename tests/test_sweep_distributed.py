"""`lithmap sweep --out X.zarr`: Dask tasks on a real cluster, a resumable store, bad input.

The cluster tests start real worker processes (a LocalCluster, or a `dask scheduler` and two
`dask worker` on 127.0.0.1); each value in the store must equal the single-process
:func:`lithmap.sweep` value, and a rerun must compute nothing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

import lithmap as lm
from cli_checks import one_line_error
from lithmap.cli import app
from lithmap.inverse.distributed import COMPUTED, FAILED, PENDING, distributed_sweep

BIN = Path(sys.executable).parent
TINY = dict(radius="0.5um,1um,2um", alpha="1,2", rate="0.5,1", protocol="Charge at {rate} for 6 minutes",
            diffusivity=1e-15, theta0=0.9)
TINY_CLI = ["--radius", "0.5um,1um,2um", "--alpha", "1,2", "--rate", "0.5,1", "--protocol",
            "Charge at {rate} for 6 minutes", "--diffusivity", "1e-11cm^2/s", "--theta0", "0.9"]
END = ("stop_time", "theta_mean_end", "theta_surface_end", "theta_centre_end")


def invoke(*args):
    return CliRunner().invoke(app, ["sweep", *[str(a) for a in args]])


def same_as_single_process(ds, **kw):
    ref = lm.sweep(**kw)
    for dim in ("radius", "alpha", "rate"):
        np.testing.assert_array_equal(ds[dim].values, ref[dim].values)
    # the blocks are batches of other compositions than the one-process batch: a batch's Newton iterates until
    # all its runs converge (newton_tol 1e-7 on theta), so a case's value may move within that; a mixed-up or
    # lost case would differ by orders of magnitude more
    for name in END:
        np.testing.assert_allclose(ds[name].values, ref[name].values, rtol=1e-8, atol=1e-8, err_msg=name)
    assert (ds.termination.values == ref.termination.values).all()


def store_files(path):
    return {p: p.stat().st_mtime_ns for p in Path(path).rglob("*") if p.is_file()}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    """A complete store of TINY, made on a local cluster of one worker, two cases per task."""
    path = tmp_path_factory.mktemp("sweep") / "tiny.zarr"
    distributed_sweep(path, workers=1, cases_per_task=2, **TINY)
    return path


# ----------------------------------------------------------------------------- the local cluster


def test_local_cluster_cli_two_workers_equals_the_single_process_sweep(tmp_path):
    out = tmp_path / "sweep.zarr"
    res = invoke(*TINY_CLI, "--out", out, "--workers", 2, "--cases-per-task", 3)
    assert res.exit_code == 0, res.output
    assert "computing 12 missing cases in 6 tasks on 2 workers" in res.output
    assert f"wrote {out}: 12 runs" in res.output
    ds = lm.read_result(out)
    assert ds.stop_time.dims == ("radius", "alpha", "rate") and ds.stop_time.attrs["units"] == "s"
    assert (ds.status.values == COMPUTED).all() and ds.attrs["sweep_cases_written"] == 12
    same_as_single_process(ds, **TINY)
    assert zarr.open_group(str(out), mode="r")["status"].chunks == (1, 1, 2)  # blocks of at most 3 cases: 1 x 1 x 2


def test_rerun_of_a_complete_store_computes_nothing_and_says_so(tiny_store):
    before = store_files(tiny_store)
    lines = []
    ds = distributed_sweep(tiny_store, workers=1, log=lines.append, **TINY)
    assert lines == ["12 of 12 cases already in tiny.zarr; nothing to compute"]
    assert ds.attrs["sweep_cases_written"] == 12
    assert store_files(tiny_store) == before  # not one chunk rewritten
    same_as_single_process(ds, **TINY)


def test_an_interrupted_store_computes_only_its_missing_cases(tiny_store, tmp_path):
    import shutil

    path = tmp_path / "partial.zarr"
    shutil.copytree(tiny_store, path)
    group = zarr.open_group(str(path), mode="r+")
    status = group["status"][...]
    status[1:, :, :] = PENDING  # as if the client had died after the first radius
    group["status"][...] = status
    theta = group["theta_mean_end"][...]
    theta[1:] = np.nan
    group["theta_mean_end"][...] = theta
    lines = []
    ds = distributed_sweep(path, workers=1, log=lines.append, **TINY)
    assert lines[0] == "computing 8 missing cases (4 of 12 already in partial.zarr) in 4 tasks on 1 worker", lines
    assert ds.attrs["sweep_cases_written"] == 12 + 8
    same_as_single_process(ds, **TINY)


# ----------------------------------------------------------------------------- bad input


def test_unreachable_scheduler_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "sweep.zarr"
    address = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.perf_counter()
    res = invoke(*TINY_CLI, "--out", out, "--scheduler", address)
    one_line_error(res, "error:", address, "unreachable")
    assert time.perf_counter() - t0 < 20
    assert list(tmp_path.iterdir()) == []


def test_a_store_of_another_sweep_is_refused_naming_the_field(tiny_store):
    before = store_files(tiny_store)
    cases = [
        (["--theta0", "0.8"], "its theta0 is 0.9, this sweep's is 0.8"),
        (["--protocol", "Charge at {rate} for 7 minutes"], "its protocol is"),
        (["--diffusivity", "2e-11cm^2/s"], "its diffusivity is"),
        (["--radius", "0.5um,1um"], "its radius is"),
        (["--tol", "1e-4"], "its solver_options is"),
    ]
    for change, needle in cases:
        args = list(TINY_CLI)
        if change[0] in args:
            args[args.index(change[0]) + 1] = change[1]
        else:
            args += change
        res = invoke(*args, "--out", tiny_store, "--workers", 1)
        one_line_error(res, "holds a different sweep", needle, "--overwrite")
    assert store_files(tiny_store) == before


def test_a_folder_that_is_not_a_sweep_store_is_refused(tmp_path):
    path = tmp_path / "other.zarr"
    path.mkdir()
    (path / "notes.txt").write_text("mine")
    one_line_error(invoke(*TINY_CLI, "--out", path), "not a lithmap sweep store", "--overwrite")
    assert [p.name for p in path.iterdir()] == ["notes.txt"]


def test_options_of_the_distributed_path_need_a_zarr_store(tmp_path):
    one_line_error(invoke(*TINY_CLI, "--out", tmp_path / "s.nc", "--workers", 2), "need a Zarr store")
    one_line_error(invoke(*TINY_CLI, "--out", tmp_path / "s.zarr", "--workers", 2, "--scheduler", "tcp://x:1"),
                   "not both")
    one_line_error(invoke(*TINY_CLI, "--out", tmp_path / "s.zarr", "--workers", 0), "workers=0")
    one_line_error(invoke(*TINY_CLI[:-2], "--theta0", "0.9", "--radius", "1um,1um", "--out", tmp_path / "s.zarr"),
                   "repeated")
    assert list(tmp_path.iterdir()) == []


def test_failing_cases_are_recorded_the_others_finish_and_a_rerun_retries_them(tmp_path):
    out = tmp_path / "sweep.zarr"
    args = ["--radius", "0.5um,3um", "--rate", "0.5,5", "--protocol", "Charge at {rate} for 20 minutes",
            "--material", "nmc811", "--theta0", "0.9", "--no-stop-at-limit", "--out", out, "--workers", 1]
    res = invoke(*args)
    assert res.exit_code == 1, res.output
    assert "2 of 4 cases failed" in res.output and "empties the particle surface" in res.output
    ds = lm.read_result(out)
    assert ds.status.sel(rate=0.5).values.ravel().tolist() == [COMPUTED, COMPUTED]
    assert ds.status.sel(rate=5.0).values.ravel().tolist() == [FAILED, FAILED]
    failure = ds.failure.sel(rate=5.0).values.ravel()
    assert all(f.startswith("LithmapError: protocol step 'Charge at 5.0C") for f in failure), failure
    assert (ds.failure.sel(rate=0.5).values == "").all()
    assert np.isnan(ds.stop_time.sel(rate=5.0)).all()
    ref = lm.sweep(radius="0.5um,3um", alpha="1", rate="0.5", protocol="Charge at {rate} for 20 minutes",
                   material="nmc811", theta0=0.9, stop_at_limit=False)
    np.testing.assert_allclose(ds.theta_surface_end.sel(rate=[0.5]).values, ref.theta_surface_end.values, atol=1e-10)
    assert ds.attrs["sweep_cases_written"] == 4
    again = invoke(*args)  # the failed cases are retried (and fail again: the physics has not changed)
    assert again.exit_code == 1
    assert "computing 2 missing cases (2 of 4 already in sweep.zarr; 2 failed before and are retried)" in again.output
    assert lm.read_result(out).attrs["sweep_cases_written"] == 6


def test_nc_output_keeps_the_single_process_sweep(tmp_path):
    out = tmp_path / "sweep.nc"
    res = invoke(*TINY_CLI, "--out", out)
    assert res.exit_code == 0, res.output
    assert "computing" not in res.output
    ds = lm.read_result(out)
    assert "status" not in ds
    same_as_single_process(ds, **TINY)


# ----------------------------------------------------------------------------- a real cluster, one worker lost


@pytest.fixture
def cluster(tmp_path):
    """A `dask scheduler` and two `dask worker` processes (one thread, no nanny) on 127.0.0.1."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("scheduler", "worker0", "worker1")}
    procs = {"scheduler": subprocess.Popen(
        [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=logs["scheduler"], stderr=subprocess.STDOUT, env=env)}
    try:
        for i in (0, 1):
            procs[f"worker{i}"] = subprocess.Popen(
                [BIN / "dask", "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--host", "127.0.0.1"], stdout=logs[f"worker{i}"], stderr=subprocess.STDOUT, env=env)
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, procs, tmp_path
    finally:
        for proc in reversed(list(procs.values())):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for f in logs.values():
            f.close()


@pytest.mark.slow
def test_a_sweep_survives_a_lost_worker_every_case_once_and_a_rerun_computes_nothing(cluster):
    address, procs, tmp = cluster
    out = tmp / "sweep.zarr"
    # no run reaches the surface limit: a located event (its time known to the event tolerance) would depend on
    # which cases share a batch, at ~1e-9; complete protocols are the same bit for bit
    kw = dict(radius="1um,1.5um,2um", alpha="1,2", rate="0.3,0.5", material="nmc811",
              protocol="Charge at {rate} for 1 hour then Rest for 1 hour", theta0=0.97)
    args = ["--radius", kw["radius"], "--alpha", kw["alpha"], "--rate", kw["rate"], "--material", "nmc811",
            "--protocol", kw["protocol"], "--tol", "1e-6", "--cases-per-task", "1", "--out", str(out),
            "--scheduler", address]
    cmd = [str(BIN / "lithmap"), "sweep", *args]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pending_at_kill = None
    deadline = time.monotonic() + 40
    while run.poll() is None and time.monotonic() < deadline:  # kill a worker once the first case has landed
        if (out / "status" / ".zarray").exists():
            status = zarr.open_group(str(out), mode="r")["status"][...]
            if (status == COMPUTED).any():
                procs["worker1"].kill()
                pending_at_kill = int((status == PENDING).sum())
                break
        time.sleep(0.02)
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 0, stdout + stderr
    assert pending_at_kill, "the worker was not killed mid-run (the sweep finished first: make the cases longer)"
    assert procs["worker1"].wait(timeout=5) != 0
    assert "computing 12 missing cases in 12 tasks on 2 workers" in stdout
    ds = lm.read_result(out)
    assert (ds.status.values == COMPUTED).all()
    assert ds.attrs["sweep_cases_written"] == 12  # every case written exactly once, none twice
    same_as_single_process(ds, options=lm.SolverOptions(tol=1e-6), **kw)
    assert json.loads(ds.attrs["sweep_definition"])["lithmap_version"] == lm.__version__

    before = store_files(out)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "12 of 12 cases already in sweep.zarr; nothing to compute" in again.stdout
    assert store_files(out) == before
    assert lm.read_result(out).attrs["sweep_cases_written"] == 12
