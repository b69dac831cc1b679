"""The parallel-beam projector of a tilt series: a sparse system matrix shared by every slice.

Geometry: the sample tilts about the image ``y`` axis; the beam is along ``z`` at angle 0. A
volume (z, y, x) is a stack of independent (z, x) slices, one per detector row ``y``; at tilt
angle θ the detector coordinate of a point is ``t = x cos θ − z sin θ`` (all about the centres
of the slice and of the detector).

The matrix ``A`` (rays × voxels of one (z, x) slice) is the distance-driven projector of
De Man & Basu (Phys. Med. Biol. 2004) in 2D: each voxel's footprint on the detector is a box
of width max(|cos θ|, |sin θ|) voxels about its projected centre, split over the (at most two)
detector bins it overlaps, so each voxel gives its whole value to every projection (the sum of
a projection is the sum of the slice, for every angle). Its transpose is the back-projection.

Why one matrix and not a library call per slice: every slice of a tilt series has the same
geometry, so ``A`` is built once and applied to all slices (and all energies of a spectral
series) as one sparse × dense product ``A @ X`` with X of shape (voxels of a slice, slices).
On this 2-CPU machine a 256³ volume at 131 angles costs 1.9 s per forward + back-projection
of the whole volume (scipy.sparse, one thread), where scikit-image's ``iradon_sart`` (0.26)
takes 0.5 s per slice and sweep and astra-toolbox's CPU SIRT (2.5) 80 ms per slice and
iteration; neither batches slices on the CPU (see benchmarks/bench_reconstruct.py).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ProjectorMatrices", "build_projector", "projector_nbytes"]


def _footprints(n_z: int, n_x: int, n_t: int, theta: float, dtype):
    """(first bin, weight of it, weight of the next bin) per voxel, voxels in C order (z, x)."""
    cz = np.arange(n_z) - (n_z - 1) / 2
    cx = np.arange(n_x) - (n_x - 1) / 2
    c, s = np.cos(theta), np.sin(theta)
    t = (cx[None, :] * c - cz[:, None] * s).ravel() + (n_t - 1) / 2  # centre in bin units (bin i spans i ± 0.5)
    w = max(abs(c), abs(s))  # footprint width, ≤ 1 voxel: it overlaps at most two bins
    lo = t - w / 2
    i0 = np.floor(lo + 0.5).astype(np.int64)  # the bin holding the footprint's left edge
    first = np.clip(np.minimum(t + w / 2, i0 + 0.5) - lo, 0.0, w) / w
    return i0, first.astype(dtype), (1 - first).astype(dtype)


class ProjectorMatrices:
    """The forward and back projector of one slice geometry, split into ordered subsets of angles.

    ``forward[j]`` (rays of subset j × voxels) and ``back[j]`` (its transpose, CSR) act on
    arrays of shape (voxels, columns); ``rows[j]`` are the angle indices of subset j, in the
    order their rays appear (angle-major, then detector bin).

    Examples
    --------
    >>> P = build_projector(8, 8, 12, np.deg2rad([-30.0, 0.0, 30.0]))   # a detector wide enough
    >>> P.n_rays, P.n_voxels
    (36, 64)
    >>> sino = P.project(np.ones((64, 1)))     # every projection carries the slice's total
    >>> np.allclose(sino.reshape(3, 12, 1).sum(axis=1), 64)
    True
    """

    def __init__(self, forward, back, rows, n_t, n_voxels):
        self.forward, self.back, self.rows = forward, back, rows
        self.n_t, self.n_voxels = n_t, n_voxels
        self.n_rays = sum(a.shape[0] for a in forward)

    @property
    def nbytes(self) -> int:
        return int(sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in (*self.forward, *self.back)))

    def project(self, x):
        """All rays, angle-major in the original angle order: (n_angles·n_t, columns)."""
        out = np.empty((self.n_rays, x.shape[1]), dtype=np.result_type(x.dtype, self.forward[0].dtype))
        for a, rows in zip(self.forward, self.rows):
            out.reshape(-1, self.n_t, x.shape[1])[rows] = (a @ x).reshape(len(rows), self.n_t, -1)
        return out

    def backproject(self, sino):
        """The adjoint of :meth:`project`: (n_angles·n_t, columns) → (voxels, columns)."""
        s3 = sino.reshape(-1, self.n_t, sino.shape[1])
        out = None
        for b, rows in zip(self.back, self.rows):
            part = b @ np.ascontiguousarray(s3[rows].reshape(-1, sino.shape[1]))
            out = part if out is None else out + part
        return out


def build_projector(n_z: int, n_x: int, n_t: int, theta, *, subsets: int = 1, dtype=np.float32) -> ProjectorMatrices:
    """The system matrices of a (z, x) slice of ``n_z`` × ``n_x`` voxels, ``n_t`` detector bins and
    tilt angles ``theta`` (radians), split into ``subsets`` interleaved ordered subsets.

    Parameters
    ----------
    n_z, n_x, n_t : int
        Slice depth (along the beam at angle 0), slice width and detector width, in voxels.
    theta : array_like
        Tilt angles in radians.
    subsets : int
        Number of ordered subsets (angles k, k + subsets, k + 2·subsets … form subset k).
    dtype : numpy dtype
        float32 (default) halves the memory against float64.

    Returns
    -------
    ProjectorMatrices

    Examples
    --------
    >>> P = build_projector(4, 4, 6, [0.0, 0.5], subsets=2)
    >>> len(P.forward), P.forward[0].shape
    (2, (6, 16))
    """
    import scipy.sparse as sp

    theta = np.asarray(theta, float).ravel()
    n_ang = theta.size
    subsets = int(max(1, min(subsets, n_ang)))
    n_vox = n_z * n_x
    forward, back, rows = [], [], []
    for j in range(subsets):
        idx = np.arange(j, n_ang, subsets)
        m = idx.size
        cols = np.empty((n_vox, m, 2), np.int64)
        vals = np.empty((n_vox, m, 2), dtype)
        for k, a in enumerate(idx):
            i0, w0, w1 = _footprints(n_z, n_x, n_t, theta[a], dtype)
            for off, w in ((0, w0), (1, w1)):
                i = i0 + off
                ok = (i >= 0) & (i < n_t)
                cols[:, k, off] = k * n_t + np.clip(i, 0, n_t - 1)
                vals[:, k, off] = np.where(ok, w, 0)
        # the back-projector (voxels × rays) has exactly 2·m entries per row: build it as CSR directly
        index_dtype = np.int32 if m * n_t < 2**31 and n_vox * m * 2 < 2**31 else np.int64
        bt = sp.csr_matrix((vals.ravel(), cols.ravel().astype(index_dtype),
                            np.arange(0, n_vox * m * 2 + 1, m * 2, dtype=index_dtype)), shape=(n_vox, m * n_t))
        del cols, vals
        bt.eliminate_zeros()
        forward.append(bt.T.tocsr())
        back.append(bt)
        rows.append(idx)
    return ProjectorMatrices(forward, back, rows, n_t, n_vox)


def projector_nbytes(n_z: int, n_x: int, n_angles: int, *, itemsize: int = 4) -> int:
    """Memory (bytes) of the forward and back matrices: ≤ 2 entries per voxel and angle, each a
    value and an int32 index, twice (forward and back).

    Examples
    --------
    >>> projector_nbytes(512, 512, 131) / 2**30   # GiB
    1.0234375
    """
    return int(2 * 2 * n_z * n_x * n_angles * (itemsize + 4))
