"""Write larch_pre_edge.csv: Larch's ``pre_edge`` (all defaults) on every scan in this folder.

Run with a Python that has xraylarch (never a lithmap dependency), from the repository root:

    /path/to/python tests/data/xanes-standards/make_larch_pre_edge.py

One row per scan and grid index (every 10th energy, and the index nearest e0): the file, Larch's
e0, edge_step, pre-edge and normalisation ranges and post-edge order, the energy, and ``norm``
and ``flat`` there. tests/test_spectra.py compares lithmap's ``normalise`` with these numbers.
"""

import csv
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def main():
    import larch
    from larch import Group
    from larch.xafs import pre_edge

    rows = []
    for path in sorted(HERE.glob("*.xdi")):
        a = np.loadtxt(path, comments="#")
        energy, mu = a[:, 0], np.log(a[:, 1] / a[:, 2])  # mu = ln(i0 / itrans), as the README says
        g = Group(energy=energy, mu=mu)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pre_edge(g)
        d = g.pre_edge_details
        ie0 = int(np.abs(energy - g.e0).argmin())
        for i in sorted(set(range(0, energy.size, 10)) | {ie0}):
            rows.append([path.name, f"{g.e0:.6f}", f"{g.edge_step:.10g}", f"{d.pre1:.6g}", f"{d.pre2:.6g}",
                         f"{d.norm1:.6g}", f"{d.norm2:.6g}", int(d.nnorm), i, f"{energy[i]:.4f}",
                         f"{g.norm[i]:.10g}", f"{g.flat[i]:.10g}"])
    out = HERE / "larch_pre_edge.csv"
    with out.open("w", newline="") as f:
        f.write(f"# Larch {larch.__version__} pre_edge(group) with all defaults; mu = ln(i0/itrans)\n")
        w = csv.writer(f)
        w.writerow(["file", "e0", "edge_step", "pre1", "pre2", "norm1", "norm2", "nnorm", "index", "energy",
                    "norm", "flat"])
        w.writerows(rows)
    print(f"wrote {out}: {len(rows)} rows")


if __name__ == "__main__":
    main()
