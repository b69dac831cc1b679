"""Parse times of navani's echem_file_loader (run in its own venv: navani pins numpy < 2).

Prints JSON {file: {"records": n, "seconds": best_of_5}} for the files given on the command line.
"""

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")
import navani.echem as ec  # noqa: E402

out = {}
for path in sys.argv[1:]:
    df = ec.echem_file_loader(path)
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        ec.echem_file_loader(path)
        ts.append(time.perf_counter() - t0)
    out[path.split("/")[-1]] = {"records": int(len(df)), "seconds": min(ts)}
print(json.dumps(out))
