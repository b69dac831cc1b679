"""Make the SYNTHETIC example operando movie shipped with lithmap (src/lithmap/data/example_movie.tif).

There is no public operando optical movie of a layered-oxide particle, so this one is made, by
:func:`lithmap.synthetic_movie` with its defaults (the function is this recipe):
1. lithmap's engine simulates the example particle outline (nmc811 preset, α = 2.7) charging at
   C/3 for one hour (θ(t, y, x) on 50 nm pixels);
2. θ → intensity by a monotone law: the particle brightens as lithium leaves (Xu, Merryweather et al., Joule 2022: ~62 %
   brighter when delithiated), here I = 2000 · (1 + 0.62 · (0.97 − θ) / 0.77) counts on a dark
   matrix of 300 counts;
3. a Gaussian point-spread function (σ = 1.5 px, FWHM 176.6 nm), a slow drift (up to ~2 px; an
   exact sub-pixel shift, as a moving stage gives), frame-to-frame flicker (±1 %), and Poisson shot
   noise; 31 frames, one every 2 minutes, uint16.
It is not a measurement.

Run:  python examples/make_example_movie.py
"""

from pathlib import Path

import numpy as np

import lithmap as lm

PIXEL = 50e-9
FRAME_INTERVAL = 120.0


def make_movie(seed=0, n_frames=31, pad=12):
    """The example movie as a uint16 array (time, y, x) and its frame times (s)."""
    times = np.arange(n_frames) * FRAME_INTERVAL
    movie = lm.synthetic_movie("example", "Charge at C/3 for 1 hour", material="nmc811", times=times,
                               pixel_size=PIXEL, pad=pad, seed=seed)
    return movie.values, times


if __name__ == "__main__":
    import tifffile

    movie, times = make_movie()
    out = Path(__file__).resolve().parents[1] / "src" / "lithmap" / "data" / "example_movie.tif"
    tifffile.imwrite(out, movie, metadata={"axes": "TYX", "frame_interval_s": FRAME_INTERVAL, "pixel_size_m": PIXEL,
                                        "synthetic": 1})
    print(f"wrote {out}: {movie.shape} uint16, one frame every {FRAME_INTERVAL:g} s (synthetic)")
