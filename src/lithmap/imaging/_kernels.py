"""The contrast pipeline's per-pixel work fused into one pass per frame (numba).

For each pixel of each frame: mask NaN/saturated values (counted), divide by the frame's
flicker factor (intensity), multiply by 1/I_ref and subtract 1 (total contrast), and add both
to the sums of the pixel's ring and particle. The same arithmetic as the NumPy expressions
``I = raw / factor``, ``tc = I / I_ref - 1`` followed by per-ring means, without temporaries.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, nogil=True)
def fused_contrast(raw, inv_factor, inv_ref, saturation, ring_of, lab_of,
                   out_i, out_tc, ring_sum, ring_cnt, int_sum, int_cnt, lab_sum, lab_cnt, bad):
    """raw (nf, npix) any real dtype; outputs (nf, npix) float; sums (nf, n_rings / n_labels)."""
    nf, npix = raw.shape
    nan = np.nan
    for k in range(nf):
        f = inv_factor[k]
        nbad = 0
        for p in range(npix):
            v = raw[k, p]
            if not np.isfinite(v) or v >= saturation:
                out_i[k, p] = nan
                out_tc[k, p] = nan
                nbad += 1
                continue
            x = v * f
            out_i[k, p] = x
            tc = x * inv_ref[p] - 1.0
            out_tc[k, p] = tc
            r = ring_of[p]
            if r >= 0 and np.isfinite(tc):
                ring_sum[k, r] += tc
                ring_cnt[k, r] += 1
                int_sum[k] += x
                int_cnt[k] += 1
            lab = lab_of[p]
            if lab >= 0:
                lab_sum[k, lab] += x
                lab_cnt[k, lab] += 1
        bad[k] = nbad
