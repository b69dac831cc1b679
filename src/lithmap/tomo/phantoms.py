"""Test volumes for tomography: a cathode particle with a central void, denser inclusions and
pores (the morphologies of Liu, Zeng et al., Nat. Nanotechnol. 2024), and the parallel-beam tilt
series of any volume.

- :func:`particle_phantom`: a spherical particle (z, y, x) with its phase labels;
- :func:`project`: the projections (angle, y, x) of a volume tilted about ``y`` — or
  (energy, angle, y, x) of a spectral volume — with the projector :func:`lithmap.reconstruct`
  inverts.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.units import optional_quantity

__all__ = ["particle_phantom", "project"]

PHASES = {0: "outside", 1: "matrix", 2: "inclusion", 3: "void", 4: "pore"}


def _coords(dims, shape, px):
    return {d: (d, np.arange(n) * (px or 1.0), {"units": "m" if px else "pixel"}) for d, n in zip(dims, shape)}


def particle_phantom(shape=64, *, radius: float = 0.38, void: float = 0.3, inclusions: int = 4,
                     inclusion_radius: float = 0.15, inclusion_density: float = 2.0, pores: int = 0,
                     pore_radius: float = 0.12, attenuation: float = 0.02, pixel_size=None,
                     seed: int = 0) -> xr.Dataset:
    """A spherical particle with a central void, denser inclusions and pores.

    Parameters
    ----------
    shape : int or (int, int, int)
        Volume size (z, y, x) in voxels (an int: a cube).
    radius : float
        Particle radius as a fraction of the smaller of the volume's z and x edges (its centre is the
        volume's; a thin y range gives a few slices through the middle of the sphere).
    void : float
        Radius of the central void as a fraction of the particle radius (0: none).
    inclusions : int
        Number of denser spherical inclusions in the shell between the void and the surface.
    inclusion_radius, pore_radius : float
        Their radii as fractions of the particle radius.
    inclusion_density : float
        Attenuation of an inclusion relative to the matrix.
    pores : int
        Number of spherical pores (empty) in the shell, not overlapping the inclusions.
    attenuation : float
        Attenuation of the matrix per voxel (optical density across one voxel).
    pixel_size : float or str, optional
        Voxel edge in m (``"20nm"``): coordinates in m, else in voxels.
    seed : int
        Seed of the positions of inclusions and pores.

    Returns
    -------
    xarray.Dataset
        ``volume`` (z, y, x): attenuation per voxel; ``phase`` (z, y, x): 0 outside, 1 matrix,
        2 inclusion, 3 void, 4 pore (names in its ``flag_meanings`` attr).

    Examples
    --------
    >>> ph = particle_phantom(32, pores=3)
    >>> ph["volume"].dims, int((ph["phase"] == 3).sum()) > 0, int((ph["phase"] == 4).sum()) > 0
    (('z', 'y', 'x'), True, True)
    """
    shape = (int(shape),) * 3 if np.ndim(shape) == 0 else tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape[0], shape[2]) < 8 or shape[1] < 1:
        raise LithmapError(f"shape={shape!r}; expected a volume (z, y, x) of at least 8 voxels along z and x")
    if not 0 < radius <= 0.5:
        raise LithmapError(f"radius={radius!r} must be a fraction in (0, 0.5] of the volume's z/x edge")
    if not 0 <= void < 1:
        raise LithmapError(f"void={void!r} must be a fraction in [0, 1) of the particle radius")
    px = optional_quantity(pixel_size, "m", name="pixel_size", positive=True)
    rng = np.random.default_rng(seed)
    r_p = radius * min(shape[0], shape[2])
    grid = np.stack(np.meshgrid(*[np.arange(n) - (n - 1) / 2 for n in shape], indexing="ij"))
    dist = np.sqrt((grid**2).sum(0))
    phase = np.where(dist <= r_p, 1, 0).astype(np.int8)
    r_v = void * r_p
    phase[dist <= r_v] = 3
    placed = []

    def place(n, r, value):
        for _ in range(n):
            for _ in range(2000):
                d = rng.uniform(r_v + r + 1.5, r_p - r - 1.5) if r_p - r - 1.5 > r_v + r + 1.5 else None
                if d is None:
                    raise LithmapError(f"no room for a sphere of radius {r / r_p:g} (of the particle's) in the shell")
                u = rng.normal(size=3)
                c = u / np.linalg.norm(u) * d
                if all(np.linalg.norm(c - c2) > r + r2 + 2 for c2, r2 in placed):
                    placed.append((c, r))
                    phase[np.sqrt(((grid - c[:, None, None, None]) ** 2).sum(0)) <= r] = value
                    break
            else:
                raise LithmapError(f"could not place {n} spheres of radius {r / r_p:g} (of the particle's) apart")

    place(int(inclusions), inclusion_radius * r_p, 2)
    place(int(pores), pore_radius * r_p, 4)
    density = np.select([phase == 1, phase == 2], [1.0, float(inclusion_density)], 0.0) * float(attenuation)
    dims = ("z", "y", "x")
    coords = _coords(dims, shape, px)
    return xr.Dataset(
        {"volume": (dims, density.astype(np.float32), {"long_name": "attenuation per voxel", "units": "1"}),
         "phase": (dims, phase, {"long_name": "phase", "flag_values": list(PHASES),
                                 "flag_meanings": " ".join(PHASES.values())})},
        coords=coords, attrs={**({"pixel_size": float(px)} if px else {}), "seed": int(seed)})


def project(volume, angles, *, pixel_size=None) -> xr.DataArray:
    """Parallel-beam projections of a volume tilted about its ``y`` axis.

    Parameters
    ----------
    volume : xarray.DataArray or array_like
        Attenuation per voxel on (z, y, x), or (energy, z, y, x) for a spectral volume.
    angles : array_like
        Tilt angles in degrees (0: the beam along ``z``).
    pixel_size : float or str, optional
        Voxel edge in m; default the volume's ``pixel_size`` attr or its ``x`` step in m.

    Returns
    -------
    xarray.DataArray
        ``projections`` (angle, y, x) or (energy, angle, y, x): line integrals in voxel units
        (optical density), ``angle`` in degrees, ``x``/``y`` as the volume's.

    Examples
    --------
    >>> p = project(particle_phantom(32)["volume"], np.arange(-65, 66, 5.0))
    >>> p.dims, p.shape
    (('angle', 'y', 'x'), (27, 32, 32))
    """
    from ..io.images import pixel_size_of
    from .projector import build_projector

    da = volume if isinstance(volume, xr.DataArray) else xr.DataArray(
        np.asarray(volume), dims=("z", "y", "x") if np.ndim(volume) == 3 else ("energy", "z", "y", "x"))
    spatial = ("z", "y", "x")
    if not set(spatial) <= set(da.dims) or da.ndim not in (3, 4):
        raise LithmapError(f"volume has dims {da.dims}; expected (z, y, x) or (energy, z, y, x)")
    lead = [d for d in da.dims if d not in spatial]
    da = da.transpose(*lead, *spatial)
    ang = np.asarray(angles, float).ravel()
    if ang.size < 1 or not np.all(np.isfinite(ang)):
        raise LithmapError("angles must be finite tilt angles in degrees")
    px = optional_quantity(pixel_size, "m", name="pixel_size", positive=True) or pixel_size_of(da)
    v = np.asarray(da.values, np.float32)
    nz, ny, nx = v.shape[-3:]
    cols = v.reshape(-1, nz, ny, nx).transpose(1, 3, 0, 2).reshape(nz * nx, -1)  # (voxels of a slice, lead·y)
    sino = build_projector(nz, nx, nx, np.deg2rad(ang)).project(np.ascontiguousarray(cols))
    p = sino.reshape(ang.size, nx, -1, ny).transpose(2, 0, 3, 1).reshape(*v.shape[:-3], ang.size, ny, nx)
    coords = {"angle": ("angle", ang, {"units": "degree", "long_name": "tilt angle about y"}),
              **_coords(("y", "x"), (ny, nx), px)}
    for d in ("y", "x"):
        if d in da.coords and da[d].attrs.get("units") == "m":
            coords[d] = (d, da[d].values, {"units": "m"})
    for d in lead:
        if d in da.coords:
            coords[d] = da.coords[d]
    return xr.DataArray(p, dims=(*lead, "angle", "y", "x"), coords=coords, name="projections",
                        attrs={"long_name": "projected optical density", "units": "1",
                               **({"pixel_size": float(px)} if px else {})})
