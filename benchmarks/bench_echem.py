"""Electrochemistry timings, side by side in one process (not tests).

- GITT: the 40 real pulses, parse + analysis (issue target < 0.2 s).
- A 250 000-row Neware .ndax (issue target < 1 s), written by tests/ndax_writer.py from the
  real file's framing with a 1 s-sampled CC-CV cycling series, parsed by lithmap, NewareNDA and
  navani in the same run.
- Cycler parsing: lithmap.read_cycler against the raw reader it wraps (galvani for
  .mpr, NewareNDA for .ndax) and against navani's echem_file_loader, on the real files in
  tests/data/cycler. navani pins numpy < 2, so it runs in its own venv (benchmarks/.venv-navani,
  created on first use) as a subprocess of this same run.

Run: .venv/bin/python benchmarks/bench_echem.py [--no-navani]   (navani columns NaN when skipped or
when its venv cannot be built, e.g. offline)
"""

import json
import platform
import warnings
from pathlib import Path

import numpy as np

from timing import best  # noqa: E402  (benchmarks/ is the script's folder)

ROOT = Path(__file__).resolve().parents[1]
GITT = sorted((ROOT / "tests/data/gitt-halfcell").glob("pulse_*.csv"))
CYC = ROOT / "tests/data/cycler"



def main(navani: bool = True):
    from lithmap import analyse_gitt, read_cycler

    res = {"machine": {"platform": platform.platform(), "python": platform.python_version(), "numpy": np.__version__}}

    def gitt():
        rec = read_cycler(GITT, columns={"voltage": "Positive electrode potential [V]"})
        return analyse_gitt(rec, radius=5.22e-6)

    res["gitt_40_pulses_s"] = best(gitt, n=5)

    import NewareNDA
    from galvani import BioLogic

    def raw_mpr(p):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return BioLogic.MPRfile(str(p)).data

    def raw_ndax(p):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return NewareNDA.read(str(p))

    big = _big_ndax(ROOT / "benchmarks" / "results" / "big_250k.ndax")
    rows = []
    for name, raw in (("jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr", raw_mpr),
                      ("00_test_04_MB_C01.mpr", raw_mpr), ("test.ndax", raw_ndax), (big, raw_ndax)):
        p = CYC / name if isinstance(name, str) else name
        name = p.name
        n = read_cycler(p).sizes["record"]
        t_lm = best(lambda p=p: read_cycler(p), n=5)
        t_raw = best(lambda p=p, raw=raw: raw(p), n=5)
        rows.append({"file": name, "records": n, "lithmap_s": t_lm, "raw_reader_s": t_raw,
                     "lithmap_over_raw": t_lm / t_raw, "lithmap_records_per_s": n / t_lm})
    nav = _navani([CYC / r["file"] if r["file"] != big.name else big for r in rows]) if navani else {}
    for r in rows:
        r["navani_s"] = nav.get(r["file"], {}).get("seconds", float("nan"))
        r["navani_over_lithmap"] = r["navani_s"] / r["lithmap_s"]
    res["parse"] = rows
    out = ROOT / "benchmarks/results/echem.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    print(f"GITT, 40 pulses, parse + analysis: {res['gitt_40_pulses_s'] * 1e3:.1f} ms (target < 200 ms)")
    print("| file | records | lithmap read_cycler (ms) | raw reader (ms) | navani (ms) | navani / lithmap |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['file']} | {r['records']} | {r['lithmap_s'] * 1e3:.1f} | {r['raw_reader_s'] * 1e3:.1f} | "
              f"{r['navani_s'] * 1e3:.1f} | {r['navani_over_lithmap']:.2f} |")


def _big_ndax(path, n=250_000):
    """A 250 000-record .ndax: 1 s sampling, CC charge / CC discharge at ±0.5 mA between 3.0 and
    4.3 V with rests, written with the real file's framing (tests/ndax_writer.py)."""
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from ndax_writer import write_ndax

    path.parent.mkdir(exist_ok=True)
    t = np.arange(n, dtype=float)
    phase = (np.arange(n) // 10_000) % 4  # charge, rest, discharge, rest
    step = 1 + np.arange(n) // 10_000
    current = np.select([phase == 0, phase == 2], [0.5, -0.5], 0.0)
    s = (np.arange(n) % 10_000) / 10_000
    voltage = np.select([phase == 0, phase == 1, phase == 2], [3.0 + 1.3 * s, 4.25 - 0.05 * s, 4.2 - 1.2 * s], 3.05)
    return write_ndax(path, t, voltage, current, step)


def _navani(paths):
    """navani's parse times, from its own venv (created here on first use)."""
    import subprocess
    import sys

    venv = ROOT / "benchmarks" / ".venv-navani"
    py = venv / "bin" / "python"
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "--quiet", "navani>=0.1.20,<0.2"], check=True)
        out = subprocess.run([str(py), str(ROOT / "benchmarks" / "navani_parse.py"), *map(str, paths)],
                             check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"navani skipped ({exc})")
        return {}
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    import sys

    main(navani="--no-navani" not in sys.argv[1:])
