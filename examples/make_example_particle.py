"""Make the example particle outline shipped with lithmap (src/lithmap/data/example_particle.png).

A synthetic, documented outline: a single-crystal NMC particle seen along c is a rounded,
slightly irregular hexagonal platelet about 2 µm across (Xu, Merryweather et al., Joule 2022,
Fig. 1B-C). We draw a hexagon
with rounded corners and unequal sides at 50 nm per pixel. It is not a measured particle.

Run:  python examples/make_example_particle.py
"""

from pathlib import Path

import numpy as np
from PIL import Image

PIXEL_SIZE = 50e-9  # m
SIZE = 56  # pixels


def outline_mask(size=SIZE, pixel=PIXEL_SIZE):
    y, x = (np.mgrid[0:size, 0:size] - (size - 1) / 2) * pixel
    # rounded hexagon: intersection of 6 half-planes at distances d_k, softened by a disc
    angles = np.deg2rad(np.arange(0, 360, 60) + 8.0)
    dists = np.array([0.98, 0.90, 1.02, 0.94, 0.88, 1.0]) * 1.0e-6
    inside = np.ones_like(x, bool)
    rounding = 0.25e-6
    for a, d in zip(angles, dists):
        inside &= x * np.cos(a) + y * np.sin(a) <= d - rounding
    # Minkowski sum with a disc of radius `rounding` rounds the corners
    from scipy import ndimage

    r = int(round(rounding / pixel))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return ndimage.binary_dilation(inside, structure=(xx**2 + yy**2) <= r * r)


if __name__ == "__main__":
    mask = outline_mask()
    out = Path(__file__).resolve().parents[1] / "src" / "lithmap" / "data" / "example_particle.png"
    Image.fromarray((mask * 255).astype(np.uint8)).save(out)
    print(f"wrote {out}: {int(mask.sum())} px, equivalent diameter "
          f"{2 * np.sqrt(mask.sum() / np.pi) * PIXEL_SIZE * 1e6:.2f} um")
