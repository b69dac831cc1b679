"""Operando-movie timings and memory, side by side in one run (not tests).

1. Speed: a 1 000-frame 512×512 uint16 stack through registration-free contrast + traces +
   rings + kymograph (``contrast_movie(movie, register=False)``, in memory), against plain numpy passes
   over the same stack in the same process: ``stack / ref - 1`` (the total contrast a user would
   write, allocating its float32 result like lithmap allocates its maps) and a pure read pass
   (``stack.sum()``). Issue target: lithmap ≤ 3× one plain numpy pass.
2. Memory: a TIFF stack twice the size of a memory limit set on a child process
   (RLIMIT_DATA: the process's private, anonymous memory), read lazily (Dask; an uncompressed
   TIFF is memory-mapped) and streamed through contrast to a Zarr store. The child reports its
   peak RSS, split into anonymous memory (what the limit bounds) and file-backed pages (the
   memory-mapped movie: page cache the kernel can drop), sampled along the run.

Run: .venv/bin/python benchmarks/bench_imaging.py
"""

import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

from timing import best  # noqa: E402  (benchmarks/ is the script's folder)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def movie(n, size=512, seed=0):
    """A bright particle that brightens from the edge inward on a dark matrix, with shot noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    r = np.hypot(y - 0.48 * size, x - 0.52 * size)
    radius = 0.25 * size
    out = np.empty((n, size, size), np.uint16)
    noise = rng.integers(0, 60, (8, size, size), dtype=np.uint16)
    for k in range(n):
        front = radius * (1 - 0.8 * k / n)
        frame = np.where(r < radius, 3000 + 1500 * (r > front), 400)
        out[k] = frame + noise[k % 8]
    return out, r < radius



def speed():
    import xarray as xr

    from lithmap.imaging import contrast_movie

    stack, mask = movie(1000)
    t = np.arange(stack.shape[0]) * 10.0
    labelled = xr.DataArray(stack, dims=("time", "y", "x"), coords={"time": ("time", t, {"units": "s"})})
    ref = stack[0].astype(np.float32)
    res = {"frames": stack.shape[0], "shape": list(stack.shape[1:]), "dtype": "uint16",
           "stack_GiB": stack.nbytes / 2**30}
    res["numpy_contrast_s"] = best(lambda: stack / ref - 1)
    res["numpy_sum_s"] = best(lambda: stack.sum(dtype=np.uint64))
    res["lithmap_s"] = best(lambda: contrast_movie(labelled, register=False, mask=mask))
    res["lithmap_1_thread_s"] = best(lambda: contrast_movie(labelled, register=False, mask=mask, workers=1))
    res["lithmap_auto_mask_s"] = best(lambda: contrast_movie(labelled, register=False), n=1)
    res["ratio_vs_numpy_contrast"] = res["lithmap_s"] / res["numpy_contrast_s"]
    res["ratio_vs_numpy_sum"] = res["lithmap_s"] / res["numpy_sum_s"]
    res["ratio_1_thread_vs_numpy_contrast"] = res["lithmap_1_thread_s"] / res["numpy_contrast_s"]
    return res


STREAM_CHILD = r"""
import json, resource, sys, threading, time
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
from lithmap.imaging import contrast_movie
from lithmap.io.movies import read_movie
from lithmap.io.results import write_result

samples = []
def rss():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) * 1024
    return out
stop = False
def watch():
    t0 = time.perf_counter()
    while not stop:
        samples.append((time.perf_counter() - t0, rss()))
        time.sleep(0.25)
threading.Thread(target=watch, daemon=True).start()
t0 = time.perf_counter()
movie = read_movie(sys.argv[1], times=10.0, lazy=True)
ds = contrast_movie(movie, register=False, chunk_frames=32)
write_result(ds, sys.argv[3], overwrite=True)
elapsed = time.perf_counter() - t0
stop = True
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": elapsed, "peak_rss_bytes": peak, "samples": samples[::max(1, len(samples) // 40)],
                  "frames": int(movie.shape[0])}))
"""


def stream(limit_gib=1.0):
    import tifffile

    limit = int(limit_gib * 2**30)
    path = RESULTS / "stream_2x_limit.tif"
    frames_needed = int(np.ceil(2 * limit / (512 * 512 * 2)))
    if not path.exists() or tifffile.TiffFile(path).series[0].shape[0] != frames_needed:
        one, _ = movie(64)
        with tifffile.TiffWriter(path, bigtiff=True) as tw:
            for k in range(frames_needed):
                tw.write(one[k % 64], contiguous=True, photometric="minisblack")
    out = RESULTS / "stream_out.zarr"
    proc = subprocess.run([sys.executable, "-c", STREAM_CHILD, str(path), str(limit), str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed", "limit_bytes": limit}
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    r.update(limit_bytes=limit, stack_bytes=path.stat().st_size)
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    return r


def main():
    res = {"machine": {"platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__}}
    res["speed"] = speed()
    s = res["speed"]
    print(f"1000x512x512 uint16: lithmap contrast+traces+rings+kymograph {s['lithmap_s']:.2f} s; "
          f"numpy stack/ref-1 {s['numpy_contrast_s']:.2f} s (ratio {s['ratio_vs_numpy_contrast']:.2f}); "
          f"numpy sum {s['numpy_sum_s']:.2f} s (ratio {s['ratio_vs_numpy_sum']:.2f}); one thread "
          f"{s['lithmap_1_thread_s']:.2f} s (ratio {s['ratio_1_thread_vs_numpy_contrast']:.2f}); with automatic mask "
          f"{s['lithmap_auto_mask_s']:.2f} s")
    res["stream"] = stream()
    st = res["stream"]
    if "error" in st:
        print("stream:", st["error"])
    else:
        anon = [b["RssAnon"] for _, b in st["samples"]]
        st["peak_anon_bytes"] = max(anon)
        st["peak_file_bytes"] = max(b["RssFile"] for _, b in st["samples"])
        print(f"stream: {st['stack_bytes'] / 2**30:.2f} GiB stack, limit {st['limit_bytes'] / 2**30:.2f} GiB, "
              f"{st['seconds']:.1f} s; peak RSS {st['peak_rss_bytes'] / 2**30:.2f} GiB = anonymous "
              f"{st['peak_anon_bytes'] / 2**30:.2f} GiB + file-backed (mapped movie) "
              f"{st['peak_file_bytes'] / 2**30:.2f} GiB; "
              f"anonymous at 10/25/50/75/100 % of the run "
              f"{[round(anon[int(f * (len(anon) - 1))] / 2**20) for f in (0.1, 0.25, 0.5, 0.75, 1.0)]} MiB")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "imaging.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
