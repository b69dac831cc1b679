"""The one timing rule of lithmap's benchmark scripts: one warm-up call, then the best of ``n``."""

import time


def best(fn, n=3):
    """Seconds of the fastest of ``n`` calls of ``fn`` after one warm-up call."""
    fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)
