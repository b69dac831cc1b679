"""Spectral clusters and principal components of a spectro-microscopy map or volume.

The approach of MANTiS (Lerotic et al., J. Synchrotron Rad. 2014) and of the "elemental
associations" of Liu, Zeng et al. (Nat. Nanotechnol. 2024): principal-component analysis of the
pixels' spectra, then k-means in the space of the leading components, then each cluster's mean
spectrum (optionally fitted by linear combination of standards).

Thickness invariance. A pixel's optical density is y = t·J·μ̃(E) + background(E), with t the
local thickness, J the edge jump per unit thickness, μ̃ the edge-step-normalised spectrum (its
chemistry) and a background that is close to a line. Each pixel is fitted by least squares as
a·m(E) + b + c·E, m being the edge-step-normalised sum spectrum of the map, and clustered on
X = (y − b − c·E) / a: the amount of material (a ∝ t·J) and any linear background drop out
exactly, so clusters follow the spectral shape and not the thickness. The scale a uses every
energy; a per-pixel edge step (pre-edge line and post-edge line extrapolated to e0) would use a few
and, at 5 % noise, scatter by ±20 % from pixel to pixel, a spread that then dominates the
principal components (adjusted Rand index 0.73 against 1.0 with the fit, on the three-phase test
map). Pixels without an edge (background) are left out: those outside ``mask``, or by default
those outside lithmap's one particle rule, :func:`lithmap.spectro.spectra.edge_mask` (edge step
with one common e0, that of the mean spectrum, above Otsu's threshold of its logarithm when the
steps separate into a near-zero class and a particle class; ``lithmap lcf`` uses the same), and
those whose amplitude a is below 5 standard errors. Each cluster's
spectrum is the mean of its pixels' y / a, edge-step normalised with the map's e0.

The algorithms are scikit-learn's (``PCA``, ``KMeans`` with ``n_init`` restarts and a fixed
``random_state``), not home-made.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from ..io.spectra import _energy_coord, check_energies
from . import spectra as _sp

N_INIT = 10  # k-means restarts (the best inertia is kept)
PRE_EDGE = _sp.EDGE_PRE  # eV relative to e0: the edge-mask ranges (one rule with lcf and shells)
NORM = _sp.EDGE_NORM
MIN_ENERGIES = 4  # the shape fit has 3 parameters
MIN_SNR = 5.0  # auto mask: the template amplitude must exceed 5 standard errors (an edge above the noise)
SMALL_CLUSTER = 0.01  # a cluster under 1 % of the pixels clustered: K is probably too large
CITATION = ("PCA and k-means cluster analysis of spectromicroscopy data as in MANTiS (Lerotic et al., "
            "J. Synchrotron Rad. 2014) and the elemental associations of Liu, Zeng et al., Nat. Nanotechnol. 2024")


# ---------------------------------------------------------------------------------------------
# input checks


def _as_absorbance(data) -> xr.DataArray:
    """The absorbance DataArray, energy first, from a path, Dataset or DataArray."""
    if isinstance(data, (str, Path)):
        from ..io.spectra import read_spectra

        data = read_spectra(data)["mu"]
    if isinstance(data, xr.Dataset):
        name = next((n for n in ("absorbance", "mu") if n in data.data_vars), None)
        if name is None:
            raise LithmapError(f"map has variables {sorted(map(str, data.data_vars))}; expected 'absorbance' "
                               "(energy, y, x) or (energy, z, y, x)")
        data = data[name]
    if not isinstance(data, xr.DataArray):
        raise LithmapError(f"map is a {type(data).__name__}; expected an xarray DataArray 'absorbance' with an "
                           "'energy' coordinate in eV (or a NetCDF/HDF5 file holding one)")
    src = data.attrs.get("source", "map")
    if "energy" not in data.dims:
        raise LithmapError(f"{src} has dims {data.dims}; expected an 'energy' dim, e.g. (energy, y, x)")
    if "energy" not in data.coords:
        raise LithmapError(f"{src} has no 'energy' coordinate (eV)")
    if data.ndim < 2:
        raise LithmapError(f"{src} is a single spectrum; clusters need a map (energy, y, x) or a volume "
                           "(energy, z, y, x)")
    if data.dtype.kind not in "fiu":
        raise LithmapError(f"{src} has dtype {data.dtype}; expected real numbers")
    check_energies(data["energy"].values, src)
    return data.transpose("energy", ...)


def _positive_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        try:
            f = float(value)
        except (TypeError, ValueError):
            f = np.nan
        if not (np.isfinite(f) and f == int(f)):
            raise LithmapError(f"{name}={value!r} is invalid; expected a whole number >= {low}")
        value = int(f)
    if value < low:
        raise LithmapError(f"{name}={value!r} is invalid; expected a whole number >= {low}")
    return int(value)


def _mask_array(mask, shape) -> np.ndarray:
    if isinstance(mask, (str, Path)):
        from ..io.masks import read_mask

        mask = read_mask(mask, ndim=None)
    m = np.asarray(mask.values if isinstance(mask, xr.DataArray) else mask)
    if m.shape != tuple(shape):
        raise LithmapError(f"mask has shape {m.shape}; expected the map's pixel shape {tuple(shape)}")
    return m.astype(bool)


# ---------------------------------------------------------------------------------------------
# standards


def _standards_on(standards, valences, energy, e0):
    """Standards (energy, standard) on ``energy``, their valences and files. Files are edge-step
    normalised with the map's ``e0`` and ranges, like the cluster spectra: normalisation is linear for a fixed e0, so a
    cluster spectrum that mixes the standards is then exactly a mix of them (with each standard
    at its own e0 it is not, and the fit is biased by up to ~0.07 in valence for the Mn oxides)."""
    from collections.abc import Mapping

    from ..io.spectra import read_spectra
    from .lcf import _unique_names, parse_standard

    if isinstance(standards, xr.DataArray):
        if "energy" not in standards.dims or "energy" not in standards.coords:
            raise LithmapError("standards DataArray needs an 'energy' dim and coordinate (eV)")
        other = [d for d in standards.dims if d != "energy"]
        st = standards.expand_dims("standard", axis=-1) if not other else standards.transpose("energy", ...)
        other = next(d for d in st.dims if d != "energy")
        names = [str(v) for v in st[other].values] if other in st.coords else \
            [f"standard_{i}" for i in range(st.sizes[other])]
        items = {n: st.isel({other: i}).drop_vars(other, errors="ignore") for i, n in enumerate(names)}
        files = None
    elif isinstance(standards, Mapping):
        items, files = dict(standards), None
    else:
        specs = [parse_standard(s) for s in standards]
        if not specs:
            raise LithmapError("no standards given; pass FILE:VALENCE for each")
        if valences is not None:
            raise LithmapError("valences come with the standards as FILE:VALENCE; do not pass valences= too")
        valences = [v for _, v in specs]
        files = [p for p, _ in specs]
        items = {}
        for name, path in zip(_unique_names(files), files):
            mu = read_spectra(path)["mu"]
            if mu.ndim != 1:
                raise LithmapError(f"standard {path!r} is an image {dict(mu.sizes)}; a standard must be one spectrum")
            norm, _, step = _sp.normalise(mu, e0=e0, pre=PRE_EDGE, norm=NORM, return_edge=True)
            if not np.isfinite(float(step)):
                raise LithmapError(f"standard {path!r} has no positive edge step at the map's e0 {e0:.6g} eV")
            items[name] = norm
    if valences is None:
        raise LithmapError("standards need their valences: pass valences=[...] or FILE:VALENCE strings")
    A = _sp.interpolate_standards(items, energy)
    v = np.asarray(valences, float).ravel()
    if v.size != A.sizes["standard"]:
        raise LithmapError(f"{v.size} valences for {A.sizes['standard']} standards")
    return A, v, files


# ---------------------------------------------------------------------------------------------
# the analysis


def _shape_fit(Y: np.ndarray, template: np.ndarray, e: np.ndarray):
    """Each row y of ``Y`` fitted by least squares as a·template + b + c·(E − Ē): returns a,
    the shape X = (y − b − c·(E − Ē)) / a (thickness and any linear background removed, all
    energies used for the scale) and a / standard error of a."""
    x = (e - e.mean()) / max(np.ptp(e), 1e-12)
    M = np.stack([template, np.ones_like(x), x], axis=1)
    pinv = np.linalg.pinv(M)
    C = Y @ pinv.T
    rss = np.einsum("ij,ij->i", Y - C @ M.T, Y - C @ M.T)
    cov00 = float(np.linalg.inv(M.T @ M)[0, 0]) if np.linalg.matrix_rank(M) == 3 else np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(rss / max(e.size - 3, 1) * cov00)
        snr = C[:, 0] / se
        X = (Y - C[:, 1:] @ M[:, 1:].T) / C[:, :1]
    snr[se == 0] = np.where(C[se == 0, 0] > 0, np.inf, 0.0)
    return C[:, 0], X, snr


def _half_step_energy(spectra: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Energy where each normalised spectrum first reaches 0.5 (linear interpolation); NaN
    when it starts above or never reaches it."""
    out = np.full(spectra.shape[0], np.nan)
    for i, s in enumerate(spectra):
        above = np.flatnonzero(s >= 0.5)
        if above.size and above[0] > 0:
            j = above[0]
            out[i] = e[j - 1] + (0.5 - s[j - 1]) * (e[j] - e[j - 1]) / (s[j] - s[j - 1])
    return out


def spectral_clusters(map, n_clusters, *, n_components=None, standards=None, valences=None, mask=None,
                      window=None, seed: int = 0) -> xr.Dataset:
    """Principal components and k-means clusters of a map's spectra, on their shape.

    Every pixel (voxel) is fitted as a · (the map's normalised sum spectrum) + a line and
    clustered on its spectrum less the line, divided by a: thickness and a linear background
    drop out (see the module notes). These shapes, for the pixels with an edge, go through
    scikit-learn's ``PCA``; ``KMeans``
    (``n_init`` = 10, ``random_state`` = ``seed``) groups their scores on the first
    ``n_components`` components. Clusters are numbered by rising edge energy (where the cluster
    spectrum reaches half the edge step), ties by the first component's score. As in MANTiS
    (Lerotic et al., J. Synchrotron Rad. 2014) and Liu, Zeng et al., Nat. Nanotechnol. 2024.

    Parameters
    ----------
    map : xarray.DataArray, xarray.Dataset, str or Path
        Absorbance (optical density) on (energy, y, x) or (energy, z, y, x) (the energy dim may
        be anywhere) with an ``energy`` coordinate in eV; a Dataset's ``absorbance`` (or ``mu``);
        a file that :func:`lithmap.read_spectra` reads (NetCDF/HDF5 with ``absorbance``).
    n_clusters : int
        Number of clusters K (at least 2, at most the pixels clustered).
    n_components : int, optional
        Principal components kept for clustering (default K: K cluster means span K − 1
        directions, plus one). At most the number of energies and of pixels.
    standards : list of "FILE:VALENCE", mapping name → DataArray, or DataArray (energy, standard), optional
        Standards for a linear-combination fit of each cluster spectrum (exact, weights ≥ 0
        summing to 1, :func:`lithmap.fit_lcf`). Files are read and edge-step normalised like the
        map; DataArrays are taken as already normalised. Interpolated onto the map's energies
        (never extrapolated).
    valences : sequence of float, optional
        Oxidation states of DataArray/mapping standards (files carry theirs as FILE:VALENCE).
    mask : array_like of bool, DataArray, str or Path, optional
        Pixels to cluster (shape of the map without energy; a path is read by
        :func:`lithmap.read_mask`). Default: pixels whose edge step lies above the Otsu
        threshold when the steps have a near-zero (background) class, else all pixels with a
        positive edge step. Pixels with NaN data are always left out.
    window : (lo, hi) in eV or "LO:HIeV", optional
        Energies clustered (after normalisation on the full range); default all.
    seed : int
        ``random_state`` of PCA and k-means: the same input and seed give the same labels.

    Returns
    -------
    xarray.Dataset
        ``cluster`` (spatial dims; int, −1 outside the mask), ``cluster_spectrum`` (cluster,
        energy; mean normalised spectrum), ``cluster_fraction`` and ``cluster_size`` (cluster),
        ``cluster_edge_energy`` (cluster, eV), ``pca_component`` (component, energy),
        ``explained_variance`` (component; ratio of the total variance), ``pca_score``
        (component, spatial dims; NaN outside the mask), ``edge_step`` (spatial dims, in the
        map's units) and ``mask``; with standards also ``cluster_weights`` (cluster, standard),
        ``cluster_mean_valence`` and ``cluster_r_factor`` (cluster). Attrs: method, seed,
        ``n_init``, ``e0`` (eV), the mask rule, the window, the normalisation ranges, citation,
        ``small_clusters`` (the clusters holding under 1 % of the pixels clustered) and, when
        there are any, ``warning`` (K is probably too large).

    Raises
    ------
    LithmapError
        No energy dim or coordinate, K < 2 or more clusters than pixels (in the map or the
        mask), too many components, a mask of the wrong shape, energies that cannot be edge-step
        normalised, a window outside the data, fewer distinct spectra than clusters.

    Examples
    --------
    MnO on the left, MnO2 on the right (the real standards), the thickness rising ×4 across:

    >>> import lithmap
    >>> mno, mno2 = (lithmap.read_spectra(lithmap.example_file(f"{n}_rt_01.xdi"))["mu"] for n in ("MnO", "MnO2"))
    >>> mno = mno.interp(energy=mno2.energy)
    >>> t = xr.DataArray(np.linspace(1, 4, 8), dims="x")
    >>> side = xr.DataArray(np.arange(8) < 4, dims="x")
    >>> od = (t * xr.where(side, mno, mno2)).expand_dims(y=3).transpose("energy", "y", "x")
    >>> ds = spectral_clusters(od, 2)
    >>> ds.cluster.values[0].tolist(), ds.cluster_fraction.values.tolist()
    ([0, 0, 0, 0, 1, 1, 1, 1], [0.5, 0.5])
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    da = _as_absorbance(map)
    src = da.attrs.get("source", "map")
    k = _positive_int(n_clusters, "n_clusters", 2)
    seed = _positive_int(seed, "seed", 0)
    spatial_dims = list(da.dims[1:])
    shape = tuple(da.shape[1:])
    npix = int(np.prod(shape, dtype=np.int64))
    if k > npix:
        raise LithmapError(f"n_clusters={k} is more than the {npix} pixels of {src}")
    e = np.asarray(da["energy"].values, float)
    flat = np.asarray(da.values, dtype=np.float64).reshape(e.size, npix).T  # (pixel, energy)
    finite = np.isfinite(flat).all(axis=1)
    if mask is None:  # a result's own particle mask first (lithmap reconstruct, lcf), as lcf does
        from .lcf import _own_mask

        mask = _own_mask(map, da)
    user = _mask_array(mask, shape).reshape(-1) if mask is not None else None
    sel = finite & (user if user is not None else True)
    if not sel.any():
        raise LithmapError(f"{src} has no pixel with finite data{' inside the mask' if user is not None else ''}")

    # the particle: lithmap's one edge-step rule (lithmap.spectro.spectra.edge_mask, as lcf uses)
    try:
        em = _sp.edge_mask(flat, e, axis=-1, within=user)
    except LithmapError as exc:
        raise LithmapError(f"{src} ({e[0]:.6g}-{e[-1]:.6g} eV) cannot be edge-step normalised: "
                           f"{str(exc).splitlines()[0]}") from None
    e0, step, m, threshold, rule = em.e0, em.edge_step, em.mask.copy(), em.threshold, em.rule
    where = "in the mask" if user is not None else "with an edge"
    if k > int(m.sum()):
        raise LithmapError(f"n_clusters={k} is more than the {int(m.sum())} pixels {where} of {src}")

    # the window
    keep = np.ones(e.size, bool)
    if window is not None:
        from .lcf import parse_window

        lo, hi = parse_window(window)
        keep = (e >= lo) & (e <= hi)
        if keep.sum() < MIN_ENERGIES:
            raise LithmapError(f"window {lo:g}:{hi:g} eV holds {int(keep.sum())} energies of {src} "
                               f"({e[0]:.6g}-{e[-1]:.6g} eV); clustering needs at least {MIN_ENERGIES}")
    elif e.size < MIN_ENERGIES:
        raise LithmapError(f"{src} has {e.size} energies; clustering needs at least {MIN_ENERGIES}")
    ew = e[keep]

    # each pixel's shape: fitted as a · template + b + c·E, then X = (y − b − c·E) / a
    template = _sp.normalise(flat[m].sum(axis=0)[None], e, e0=e0, pre=PRE_EDGE, norm=NORM)[0]
    amp, X, snr = _shape_fit(flat[m][:, keep], template[keep], ew)
    weak = ~(snr >= MIN_SNR) if user is None else ~(amp > 0)
    if user is None:
        rule += f"; amplitude above {MIN_SNR:g} standard errors ({int(weak.sum())} pixels dropped)"
    if weak.any():
        idx = np.flatnonzero(m)
        m[idx[weak]] = False
        amp, X = amp[~weak], X[~weak]
    n_in = int(m.sum())
    if k > n_in:
        raise LithmapError(f"n_clusters={k} is more than the {n_in} pixels {where} of {src}")
    nmax = min(n_in, ew.size)
    nc = min(k, nmax) if n_components is None else _positive_int(n_components, "n_components", 1)
    if nc > nmax:
        raise LithmapError(f"n_components={nc} is more than the {nmax} allowed (the {ew.size} energies and "
                           f"{n_in} pixels {where})")
    distinct = np.unique(X, axis=0).shape[0]
    if distinct < k:
        raise LithmapError(f"{src} has {distinct} distinct spectra {where}; fewer than n_clusters={k}")

    pca = PCA(n_components=nc, random_state=seed)
    scores = pca.fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a ConvergenceWarning for duplicate points: checked below
        km = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(scores)
    raw = km.labels_
    size = np.bincount(raw, minlength=k)
    if (size == 0).any():
        raise LithmapError(f"k-means found {int((size > 0).sum())} distinct clusters in {src}; fewer than "
                           f"n_clusters={k}")
    # cluster spectra: the mean of y / a over the cluster (full range), edge-step normalised with
    # the map's e0: a weighted mean of the pixels' normalised spectra with the noise averaged out
    # before the edge step is taken
    scaled = flat[m] / amp[:, None]
    spectra = np.stack([scaled[raw == c].mean(axis=0) for c in range(k)])
    spectra = _sp.normalise(spectra, e, e0=e0, pre=PRE_EDGE, norm=NORM)[:, keep]
    edge = _half_step_energy(spectra, ew)
    first = np.array([scores[raw == c, 0].mean() for c in range(k)])
    order = np.lexsort((first, np.where(np.isfinite(edge), edge, np.inf)))
    relabel = np.empty(k, int)
    relabel[order] = np.arange(k)
    labels = relabel[raw]
    spectra, edge, size = spectra[order], edge[order], size[order]

    small = np.flatnonzero(size < SMALL_CLUSTER * n_in)
    cluster = np.full(npix, -1, np.int32)
    cluster[m] = labels
    score_map = np.full((nc, npix), np.nan)
    score_map[:, m] = scores.T
    amp_map = np.full(npix, np.nan)
    amp_map[m] = amp
    coords = {c: v for c, v in da.coords.items() if "energy" not in v.dims}
    energy = _energy_coord(ew)
    comp = np.arange(nc)
    sd = tuple(spatial_dims)
    ds = xr.Dataset(
        {
            "cluster_spectrum": (("cluster", "energy"), spectra,
                                 {"long_name": "mean edge-step-normalised spectrum of the cluster", "units": "1"}),
            "cluster_fraction": ("cluster", size / n_in, {"long_name": "fraction of the pixels clustered",
                                                          "units": "1"}),
            "cluster_size": ("cluster", size.astype(np.int64), {"long_name": "pixels in the cluster", "units": "1"}),
            "cluster_edge_energy": ("cluster", edge, {"long_name": "energy at half the edge step", "units": "eV"}),
            "pca_component": (("component", "energy"), pca.components_,
                              {"long_name": "principal component (unit vector) of the normalised spectra",
                               "units": "1"}),
            "explained_variance": ("component", pca.explained_variance_ratio_,
                                   {"long_name": "share of the total variance explained", "units": "1"}),
            "pca_score": (("component",) + sd, score_map.reshape((nc,) + shape),
                          {"long_name": "principal-component score (NaN outside the mask)", "units": "1"}),
            "edge_step": (sd, step.reshape(shape), {"long_name": "edge step of the pixel",
                                                    "units": da.attrs.get("units", "1")}),
            "amplitude": (sd, amp_map.reshape(shape),
                          {"long_name": "amplitude a of the shape fit (proportional to the amount of material)",
                           "units": da.attrs.get("units", "1")}),
            "mask": (sd, m.reshape(shape), {"long_name": "pixels clustered"}),
        },
        # ``cluster`` is both the label map (the contract's name) and the dim of the per-cluster
        # variables: xarray keeps a variable named like a dim it does not have as a coordinate,
        # and the cluster dim has no index (clusters are 0 … K − 1 by position).
        coords={**coords, "energy": energy, "component": ("component", comp),
                "cluster": (sd, cluster.reshape(shape),
                            {"long_name": "spectral cluster (-1: background or masked out)", "units": "1"})},
        attrs={
            "method": ("shape of each pixel's spectrum (least-squares fit a * normalised sum spectrum + line; "
                       f"(spectrum - line) / a), PCA (scikit-learn, {nc} components) of the shapes, k-means "
                       f"(scikit-learn KMeans, n_init={N_INIT}) on the component scores; clusters ordered by edge "
                       "energy"),
            "citation": CITATION, "seed": seed, "n_init": N_INIT, "n_clusters": k, "n_components": nc,
            "e0": e0, "mask_rule": rule, "edge_step_threshold": threshold, "n_pixels_clustered": n_in,
            "n_pixels_excluded": int(npix - n_in), "kmeans_inertia": float(km.inertia_),
            "window_lo": float(ew[0]), "window_hi": float(ew[-1]),
            "pre_edge_range": list(PRE_EDGE), "norm_range": list(NORM), "norm_order": 1,
            "attr_units": "e0, window_lo, window_hi in eV; pre_edge_range and norm_range in eV relative to e0",
            "source": str(src),
            "small_clusters": [int(i) for i in small],
        },
    )
    if small.size:
        which = ", ".join(str(i) for i in small)
        ds.attrs["warning"] = (f"{small.size} of {k} clusters ({which}) hold under {100 * SMALL_CLUSTER:g} % of the "
                               f"pixels clustered each: n_clusters={k} is probably too large")
    if standards is not None:
        from .lcf import fit_lcf

        A, v, files = _standards_on(standards, valences, ew, e0)
        cs = xr.DataArray(spectra, dims=("cluster", "energy"), coords={"energy": energy})
        fit = fit_lcf(cs, A, v, dim="energy", sum_to_one=True, nonneg=True, offset=False)
        ds["cluster_weights"] = fit["weights"].assign_attrs(long_name="fraction of each standard in the cluster "
                                                                      "spectrum", units="1")
        ds["cluster_mean_valence"] = fit["mean_valence"].assign_attrs(long_name="weighted mean oxidation state of "
                                                                                "the cluster spectrum", units="1")
        ds["cluster_r_factor"] = fit["r_factor"].assign_attrs(units="1")
        ds = ds.assign_coords(valence=("standard", v, {"long_name": "oxidation state of the standard"}))
        if files is not None:
            ds = ds.assign_coords(standard_file=("standard", files))
        ds.attrs["lcf"] = "exact constrained least squares, weights >= 0 summing to 1 (lithmap.fit_lcf)"
    return ds
