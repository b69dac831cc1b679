"""Element maps from two photon energies per element, and the TM/O segmentation of Liu, Zeng et al.
(Nat. Nanotechnol. 2024, Fig. 2).

Liu, Zeng et al. image each element (O K, Mn/Co/Ni L edges) at two photon energies, one below and one
above its absorption edge, reconstructs every image, and sorts the voxels by their transition-
metal/oxygen atomic ratio against the target composition Li1.2Mn0.56Ni0.16Co0.08O2
(TM/O = 0.8/2 = 0.4) with a ±5.0 % band.

- :func:`parse_formula`: ``"Li1.2Mn0.56Ni0.16Co0.08O2"`` → ``{"Li": 1.2, "Mn": 0.56, …}``;
- :func:`tm_o_ratio`: the TM/O atomic ratio of a formula;
- :func:`element_maps`: Beer–Lambert inversion of the images into the areal mass density
  (kg/m²) and areal number density (atoms/m²) of each element per pixel/voxel — and, given the
  path length a voxel value refers to, the mass and number density per volume;
- :func:`classify_composition`: TM/O ratio per voxel, deviation from the target, the phase
  (target / oxygen-poor / oxygen-rich) and its volume fractions, overall and per shell;
- :func:`composition_maps`: both steps in one Dataset (what ``lithmap composition`` writes);
- :func:`parse_fraction`: ``"5%"`` or ``0.05`` → 0.05 (the ``threshold``).

The model
---------
An image value is the optical density OD(E) = −ln(I/I0) (a projection) or a reconstructed voxel
value (OD across one voxel). Beer–Lambert with the tabulated mass attenuation coefficients
μ/ρ of each element (xraydb, Elam tables, converted to m²/kg) gives, per pixel/voxel,

    OD(E_i) = Σ_j (μ/ρ)_j(E_i) · m_j ,   m_j = areal mass density of element j (kg/m²),

one equation per image (2 per element) and one unknown per element. ``method="lstsq"``
(default) solves all 2n images against all n elements' μ/ρ at all 2n energies in the least-
squares sense (the pseudo-inverse of the 2n × n matrix, applied to every pixel at once), so the
smooth absorption of every element at every other element's edge is accounted for.
``method="jump"`` uses only the n edge jumps ΔOD = OD(E_above) − OD(E_below) against the
n × n matrix of Δ(μ/ρ) (the classic jump-ratio / difference method): an absorber not in the
list (Li, carbon, binder) whose μ/ρ hardly changes across each pair then cancels, at the price
of ignoring the pre-edge levels. Elements that are not solved for are neglected by both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import xarray as xr

from ..errors import LithmapError
from .shells import shell_statistics

AVOGADRO = 6.02214076e23  # 1/mol
LRTMO = "Li1.2Mn0.56Ni0.16Co0.08O2"
PHASES = ("target", "oxygen_poor", "oxygen_rich")
_TOKEN = re.compile(r"([A-Z][a-z]?)((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)?")


def _atomic_number(symbol: str) -> int:
    import xraydb

    try:
        return int(xraydb.atomic_number(symbol))
    except (ValueError, KeyError, TypeError):
        raise LithmapError(f"{symbol!r} is not a chemical element") from None


def parse_formula(formula: str) -> dict[str, float]:
    """Amount of each element in a formula unit: ``"Li1.2Mn0.56Ni0.16Co0.08O2"`` →
    ``{"Li": 1.2, "Mn": 0.56, "Ni": 0.16, "Co": 0.08, "O": 2.0}``.

    A missing amount means 1; an element written twice is summed; brackets, charges and
    hydrates are not understood (write the flat formula).

    Parameters
    ----------
    formula : str
        A flat chemical formula.

    Returns
    -------
    dict
        element → amount per formula unit.

    Raises
    ------
    LithmapError
        An empty formula, text that is not elements and amounts, an unknown element.

    Examples
    --------
    >>> parse_formula("LiNi0.8Mn0.1Co0.1O2")
    {'Li': 1.0, 'Ni': 0.8, 'Mn': 0.1, 'Co': 0.1, 'O': 2.0}
    """
    if not isinstance(formula, str) or not formula.strip():
        raise LithmapError(f"formula {formula!r} is empty; write e.g. 'Li1.2Mn0.56Ni0.16Co0.08O2'")
    text = formula.replace(" ", "")
    out: dict[str, float] = {}
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() != pos:
            break
        el, amount = m.group(1), m.group(2)
        _atomic_number(el)
        out[el] = out.get(el, 0.0) + (float(amount) if amount else 1.0)
        pos = m.end()
    if pos != len(text):
        raise LithmapError(f"formula {formula!r}: cannot read {text[pos:]!r} "
                           "(write a flat formula like 'Li1.2Mn0.56Ni0.16Co0.08O2')")
    if any(v <= 0 for v in out.values()):
        raise LithmapError(f"formula {formula!r} has a zero amount")
    return out


def is_transition_metal(symbol: str) -> bool:
    """True for the d-block (Sc–Zn, Y–Cd, La–Hg): the 'TM' of TM/O."""
    z = _atomic_number(symbol)
    return 21 <= z <= 30 or 39 <= z <= 48 or 57 <= z <= 80


def tm_o_ratio(formula: str | Mapping[str, float], metals=None) -> float:
    """Transition-metal/oxygen atomic ratio of a composition (``LRTMO``: 0.8/2 = 0.4).

    ``metals`` lists the elements counted as TM (default: the d-block elements of the formula).
    """
    comp = parse_formula(formula) if isinstance(formula, str) else dict(formula)
    metals = [el for el in comp if is_transition_metal(el)] if metals is None else list(metals)
    if "O" not in comp:
        raise LithmapError(f"composition {formula!r} has no oxygen; TM/O is undefined")
    missing = [el for el in metals if el not in comp]
    if missing or not metals:
        raise LithmapError(f"composition {formula!r} has no transition metal {missing or ''}".rstrip())
    return float(sum(comp[el] for el in metals) / comp["O"])


def mass_attenuation(element: str, energy) -> np.ndarray:
    """Total mass attenuation coefficient μ/ρ of ``element`` at ``energy`` (eV), in m²/kg (xraydb)."""
    import xraydb

    _atomic_number(element)
    e = np.asarray(energy, float)
    mu = np.asarray(xraydb.mu_elam(element, np.atleast_1d(e).ravel()), float)
    return 0.1 * mu.reshape(e.shape)  # cm²/g → m²/kg


def _edge_between(element: str, lo: float, hi: float) -> str:
    import xraydb

    edges = {name: e.energy for name, e in xraydb.xray_edges(element).items()}
    inside = sorted((en, name) for name, en in edges.items() if lo < en < hi)
    if not inside:
        name, en = min(edges.items(), key=lambda kv: min(abs(kv[1] - lo), abs(kv[1] - hi)))
        raise LithmapError(f"energies {lo:g} and {hi:g} eV do not bracket an absorption edge of {element} "
                           f"(nearest: {element} {name} at {en:g} eV)")
    return "+".join(name for _, name in inside)


def _spatial(shape, pixel_size):
    dims = {2: ("y", "x"), 3: ("z", "y", "x")}.get(len(shape))
    if dims is None:
        raise LithmapError(f"images have shape {shape}; expected 2D maps or 3D volumes")
    p = 1.0 if pixel_size is None else float(pixel_size)
    unit = "pixel" if pixel_size is None else "m"
    coords = {d: (d, np.arange(n) * p, {"units": unit}) for d, n in zip(dims, shape)}
    return dims, coords


def element_maps(images: Mapping, energies: Mapping, *, method: str = "lstsq", path_length: float | None = None,
                 pixel_size: float | None = None) -> xr.Dataset:
    """Areal mass and number density of each element from images below/above its edge.

    Parameters
    ----------
    images : mapping element → (image_below, image_above)
        Optical densities −ln(I/I0) (2D projections) or reconstructed voxel values (3D, OD
        across one voxel), all of one shape.
    energies : mapping element → (E_below, E_above)
        Photon energies in eV; the pair must bracket an absorption edge of the element.
    method : {"lstsq", "jump"}
        ``lstsq``: all 2n images against all n elements' μ/ρ, least squares (default).
        ``jump``: the n edge jumps against the n × n matrix of Δμ/ρ (see the module notes).
    path_length : float, optional
        The length (m) the image values refer to (the voxel size for a reconstruction in OD per
        voxel); adds ``density`` (kg/m³) and ``number_density`` (1/m³).
    pixel_size : float, optional
        Pixel/voxel size in m for the spatial coords.

    Returns
    -------
    xarray.Dataset
        ``areal_density`` (element, spatial…) in kg/m², ``atom_density`` (element, spatial…) in
        atoms/m², with ``path_length`` also ``density`` and ``number_density``; ``residual``
        (spatial…): the RMS misfit of the images in OD (0 for ``jump``); ``mass_attenuation``
        (image, element) in m²/kg and the image ``energy`` (eV) used; attrs ``method``, ``edges``
        and ``condition_number`` of the matrix.

    Examples
    --------
    >>> import numpy as np
    >>> e = {"Ni": (845.0, 860.0)}
    >>> m = np.full((2, 2), 1e-5)  # kg/m² of Ni
    >>> od = {"Ni": tuple(mass_attenuation("Ni", E) * m for E in e["Ni"])}
    >>> ds = element_maps(od, e)
    >>> bool(np.allclose(ds["areal_density"].sel(element="Ni"), 1e-5))
    True
    """
    if method not in ("lstsq", "jump"):
        raise LithmapError(f"method={method!r}; choose 'lstsq' (all images, least squares) or 'jump' (edge jumps)")
    if not isinstance(images, Mapping) or not isinstance(energies, Mapping) or not images:
        raise LithmapError("give images and energies as mappings element → (below, above)")
    missing = [el for el in images if el not in energies]
    extra = [el for el in energies if el not in images]
    if missing or extra:
        what = "images but no energies" if missing else "energies but no images"
        raise LithmapError(f"elements {missing or extra} have {what}")
    elements = list(images)
    edges, stack, e_all = {}, [], []
    shape = None
    for el in elements:
        _atomic_number(el)
        pair = list(np.atleast_1d(np.asarray(energies[el], float)))
        if len(pair) != 2:
            raise LithmapError(f"element {el} has {len(pair)} energies {pair}; give two (below and above its edge)")
        imgs = images[el]
        imgs = [imgs] if isinstance(imgs, np.ndarray) and imgs.ndim < 2 else list(imgs)
        if len(imgs) != 2:
            raise LithmapError(f"element {el} has {len(imgs)} images; give two (below and above its edge)")
        lo, hi = pair
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
            raise LithmapError(f"energies for {el} must be E_below < E_above in eV, got {lo:g}, {hi:g}")
        edges[el] = _edge_between(el, lo, hi)
        for img in imgs:
            a = np.asarray(img, float)
            if shape is None:
                shape = a.shape
            elif a.shape != shape:
                raise LithmapError(f"image of {el} has shape {a.shape}, the others {shape}")
            stack.append(a)
        e_all += pair
    dims, coords = _spatial(shape, pixel_size)
    e_all = np.array(e_all)
    A = np.stack([mass_attenuation(el, e_all) for el in elements], axis=1)  # (2n, n) m²/kg
    b = np.stack(stack).reshape(len(stack), -1)  # (2n, pixels)
    if method == "lstsq":
        M, rhs = A, b
    else:
        M, rhs = A[1::2] - A[0::2], b[1::2] - b[0::2]
    cond = float(np.linalg.cond(M))
    if not np.isfinite(cond) or cond > 1e8:
        raise LithmapError(f"the μ/ρ matrix of {elements} at {e_all.tolist()} eV is singular (condition {cond:.3g})")
    x = np.linalg.pinv(M) @ rhs  # (n, pixels)
    resid = np.sqrt(np.mean((A @ x - b) ** 2, axis=0)) if method == "lstsq" else np.zeros(b.shape[1])
    molar = np.array([_molar_mass(el) for el in elements])  # kg/mol
    mass = x.reshape((len(elements),) + shape)
    atoms = mass / molar.reshape((-1,) + (1,) * len(shape)) * AVOGADRO
    edims = ("element",) + dims
    data = {
        "areal_density": (edims, mass, {"long_name": "areal mass density", "units": "kg/m^2"}),
        "atom_density": (edims, atoms, {"long_name": "areal number density", "units": "1/m^2"}),
        "residual": (dims, resid.reshape(shape), {"long_name": "RMS image misfit", "units": "1"}),
        "mass_attenuation": (("image", "element"), A, {"long_name": "mass attenuation coefficient (xraydb, Elam)",
                                                        "units": "m^2/kg"}),
    }
    if path_length is not None:
        L = float(path_length)
        if not (np.isfinite(L) and L > 0):
            raise LithmapError(f"path_length={path_length!r} must be a positive length in m")
        data["density"] = (edims, mass / L, {"long_name": "mass density", "units": "kg/m^3"})
        data["number_density"] = (edims, atoms / L, {"long_name": "number density", "units": "1/m^3"})
    coords.update(element=elements,
                  image=[f"{el}_{side}" for el in elements for side in ("below", "above")],
                  energy=("image", e_all, {"units": "eV"}))
    return xr.Dataset(data, coords=coords, attrs={
        "method": method, "condition_number": cond,
        "edges": "; ".join(f"{el}: {edges[el]}" for el in elements),
        "model": "OD(E_i) = sum_j (mu/rho)_j(E_i) * m_j (Beer-Lambert, xraydb Elam tables)",
    })


def _molar_mass(element: str) -> float:
    """kg/mol (xraydb's atomic masses)."""
    import xraydb

    _atomic_number(element)
    return float(xraydb.atomic_mass(element)) * 1e-3


def molar_mass(formula: str | Mapping[str, float]) -> float:
    """Molar mass of a formula unit in kg/mol (``LRTMO``: 0.0852 kg/mol)."""
    comp = parse_formula(formula) if isinstance(formula, str) else dict(formula)
    return float(sum(x * _molar_mass(el) for el, x in comp.items()))


def classify_composition(maps, *, target: str | Mapping[str, float] = LRTMO, threshold: float = 0.05, mask=None,
                         n_shells: int = 5, metals=None) -> xr.Dataset:
    """TM/O ratio per voxel, its deviation from the target and the three phases of Liu, Zeng et al.

    Parameters
    ----------
    maps : xarray.Dataset or mapping element → array
        The output of :func:`element_maps` (its ``atom_density`` is used), or number densities
        of each element (any one unit) as arrays of one 2D/3D shape.
    target : str or mapping
        Target composition (default Li1.2Mn0.56Ni0.16Co0.08O2, TM/O = 0.4).
    threshold : float or str
        Relative band (default 0.05 = 5.0 %; text such as ``"5%"`` is read by
        :func:`parse_fraction`). deviation = (TM/O)/(TM/O)_target − 1;
        |deviation| ≤ threshold → ``target``; deviation > threshold (more TM per O: oxygen
        lost) → ``oxygen_poor``; deviation < −threshold → ``oxygen_rich``.
    mask : array_like of bool, optional
        The particle. Default: total mass (or number) density above its Otsu threshold.
    n_shells : int
        Equal-area/volume shells for the per-shell fractions (0 = outermost).
    metals : sequence of str, optional
        The elements counted as TM (default: the d-block elements among the maps).

    Returns
    -------
    xarray.Dataset
        ``tm_o_ratio``, ``deviation`` (NaN outside), ``phase`` (int8: 0 target, 1 oxygen_poor,
        2 oxygen_rich, −1 outside the particle or undefined, i.e. no O and no TM), ``mask``,
        ``volume_fraction`` (phase) — the fraction of the particle's defined voxels (area in
        2D) — ``shell_volume_fraction`` (phase, shell) and ``shell_tm_o_ratio`` (shell);
        attrs ``target``, ``target_tm_o_ratio``, ``threshold`` and ``undefined_voxels``.

    Examples
    --------
    Number densities of Ni and O on a 6 × 6 map: NiO2 everywhere, 20 % more oxygen in one corner:

    >>> import numpy as np
    >>> o = np.full((6, 6), 2.0); o[:2, :2] = 2.4
    >>> ds = classify_composition({"Ni": np.ones((6, 6)), "O": o}, target="NiO2", threshold="5%",
    ...                           mask=np.ones((6, 6), bool), n_shells=2)
    >>> ds["volume_fraction"].values.round(3).tolist()
    [0.889, 0.0, 0.111]
    """
    if isinstance(threshold, str):
        threshold = parse_fraction(threshold, "threshold")
    if not (isinstance(threshold, (int, float, np.floating)) and np.isfinite(threshold) and threshold > 0):
        raise LithmapError(f"threshold={threshold!r} must be a positive fraction (0.05 = 5 %)")
    if isinstance(maps, xr.Dataset):
        if "atom_density" not in maps:
            raise LithmapError("the dataset has no 'atom_density'; pass the output of element_maps")
        dens = {str(el): np.asarray(maps["atom_density"].sel(element=el).values, float)
                for el in maps["element"].values}
        dims = maps["atom_density"].dims[1:]
        coords = {d: maps.coords[d] for d in dims if d in maps.coords}
        total_for_mask = (np.asarray(maps["areal_density"].sum("element").values, float)
                          if "areal_density" in maps else None)
    elif isinstance(maps, Mapping) and maps:
        dens = {str(el): np.asarray(v, float) for el, v in maps.items()}
        shape = next(iter(dens.values())).shape
        for el, v in dens.items():
            if v.shape != shape:
                raise LithmapError(f"map of {el} has shape {v.shape}, the others {shape}")
        dims, coords = _spatial(shape, None)
        total_for_mask = None
    else:
        raise LithmapError("give the element maps as the Dataset of element_maps or a mapping element → array")
    shape = next(iter(dens.values())).shape
    if len(shape) not in (2, 3):
        raise LithmapError(f"element maps have shape {shape}; expected 2D maps or 3D volumes")
    metals = [el for el in dens if is_transition_metal(el)] if metals is None else list(metals)
    if "O" not in dens:
        raise LithmapError(f"no oxygen map among {list(dens)}; TM/O needs O")
    absent = [el for el in metals if el not in dens]
    if absent or not metals:
        raise LithmapError(f"no map for the transition metal(s) {absent or 'of TM/O'} among {list(dens)}")
    tgt = parse_formula(target) if isinstance(target, str) else dict(target)
    if "O" not in tgt or sum(tgt.get(el, 0.0) for el in metals) <= 0:
        raise LithmapError(f"target {target!r} needs oxygen and at least one of {metals}")
    target_ratio = float(sum(tgt.get(el, 0.0) for el in metals) / tgt["O"])  # the measured metals only
    if mask is None:
        from skimage.filters import threshold_otsu

        total = total_for_mask if total_for_mask is not None else sum(dens.values())
        t = np.nan_to_num(total, nan=-np.inf)
        if np.ptp(t[np.isfinite(t)]) == 0:
            raise LithmapError("cannot find the particle (the density is uniform); pass a mask")
        m = t > threshold_otsu(t[np.isfinite(t)])
    else:
        m = np.asarray(mask, bool)
        if m.shape != shape:
            raise LithmapError(f"mask has shape {m.shape}, the element maps {shape}")
    if not m.any():
        raise LithmapError("the particle mask is empty")
    tm = sum(dens[el] for el in metals)
    o = dens["O"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(o > 0, tm / o, np.where(tm > 0, np.inf, np.nan))
    ratio = np.where(m, ratio, np.nan)
    dev = ratio / target_ratio - 1.0
    defined = m & ~np.isnan(dev)
    phase = np.full(shape, -1, np.int8)
    phase[defined & (np.abs(dev) <= threshold)] = 0
    phase[defined & (dev > threshold)] = 1
    phase[defined & (dev < -threshold)] = 2
    n_def = int(defined.sum())
    if n_def == 0:
        raise LithmapError("no voxel of the particle has oxygen or transition metal; check the element maps")
    indicators = np.stack([np.where(defined, phase == k, np.nan) for k in range(3)])
    frac = indicators.reshape(3, -1)[:, defined.ravel()].mean(axis=1)
    per_shell = shell_statistics(indicators, m, n_shells, stats=("mean",))["mean"].values
    finite_ratio = np.where(np.isfinite(ratio), ratio, np.nan)
    shell_ratio = shell_statistics(finite_ratio, m, n_shells, stats=("median",))
    word = "volume" if len(shape) == 3 else "area"
    ds = xr.Dataset(
        {
            "tm_o_ratio": (dims, ratio, {"long_name": f"TM/O atomic ratio ({'+'.join(metals)})/O", "units": "1"}),
            "deviation": (dims, dev, {"long_name": "(TM/O) / (TM/O)_target - 1", "units": "1"}),
            "phase": (dims, phase, {"long_name": "composition phase", "flag_values": [0, 1, 2],
                                    "flag_meanings": "target oxygen_poor oxygen_rich",
                                    "comment": "-1 outside the particle or undefined"}),
            "mask": (dims, m.astype(np.int8), {"long_name": "particle"}),
            "volume_fraction": ("phase_name", frac, {"long_name": f"{word} fraction of the particle", "units": "1"}),
            "shell_volume_fraction": (("phase_name", "shell"), per_shell,
                                      {"long_name": f"{word} fraction of each shell", "units": "1"}),
            "shell_tm_o_ratio": ("shell", shell_ratio["median"].values,
                                 {"long_name": "median TM/O per shell", "units": "1"}),
        },
        coords={**coords, "phase_name": list(PHASES), **{c: shell_ratio.coords[c] for c in shell_ratio.coords}},
        attrs={"target": target if isinstance(target, str) else str(dict(target)), "target_tm_o_ratio": target_ratio,
               "threshold": float(threshold), "undefined_voxels": int(m.sum()) - n_def,
               "rule": "deviation > +threshold: oxygen_poor (TM/O above target); < -threshold: oxygen_rich"},
    )
    return ds


def composition_maps(images: Mapping, energies: Mapping, *, target: str | Mapping[str, float] = LRTMO,
                     threshold: float | str = 0.05, mask=None, n_shells: int = 5, method: str = "lstsq",
                     path_length: float | str | None = None, pixel_size: float | str | None = None,
                     metals=None) -> xr.Dataset:
    """:func:`element_maps` then :func:`classify_composition`, merged into one Dataset: what
    ``lithmap composition`` writes.

    Parameters
    ----------
    images, energies : mapping
        element → (image below, image above) and element → (E_below, E_above) in eV, as for
        :func:`element_maps` (:func:`lithmap.read_element_images` reads them from files).
    target, threshold, mask, n_shells, metals
        As for :func:`classify_composition` (``threshold`` also as text, ``"5%"``).
    method : {"lstsq", "jump"}
        As for :func:`element_maps`.
    path_length, pixel_size : float or str, optional
        As for :func:`element_maps`, in m or as quantities (``"25nm"``).

    Returns
    -------
    xarray.Dataset
        The variables of :func:`element_maps` and of :func:`classify_composition`, and both
        sets of attrs.

    Examples
    --------
    >>> import numpy as np
    >>> E = {"O": (530.0, 550.0), "Ni": (845.0, 860.0)}
    >>> n = np.zeros((3, 8, 8)); n[:, 2:6, 2:6] = 1.0          # formula units per voxel, arbitrary
    >>> m = {"Ni": n * 1e-6, "O": 2 * n * 1e-6 * 16.0 / 58.69}  # NiO2 by mass, kg/m²
    >>> imgs = {el: tuple(sum(mass_attenuation(k, e) * m[k] for k in m) for e in E[el]) for el in E}
    >>> ds = composition_maps(imgs, E, target="NiO2", mask=n > 0, n_shells=2)
    >>> ds["volume_fraction"].sel(phase_name="target").item()
    1.0
    """
    from ..io.units import optional_quantity

    if isinstance(threshold, str):
        threshold = parse_fraction(threshold, "threshold")
    path_length = optional_quantity(path_length, "m", name="path_length", positive=True)
    pixel_size = optional_quantity(pixel_size, "m", name="pixel_size", positive=True)
    maps = element_maps(images, energies, method=method, path_length=path_length, pixel_size=pixel_size)
    cls = classify_composition(maps, target=target, threshold=threshold, mask=mask, n_shells=n_shells, metals=metals)
    out = xr.merge([maps, cls], combine_attrs="override")
    out.attrs.update(cls.attrs)
    out.attrs.update({k: v for k, v in maps.attrs.items()})
    return out


def parse_fraction(text, name: str = "threshold") -> float:
    """A fraction from ``"5%"`` or ``"0.05"`` (a bare number must be a fraction below 1).

    Parameters
    ----------
    text : str or float
        A percentage (``"5%"``) or a fraction (``"0.05"``, ``0.05``).
    name : str
        What the value is, for the error message.

    Returns
    -------
    float

    Raises
    ------
    LithmapError
        Text that is not a number, or a bare number ≥ 1 (ambiguous: 5 means 5 % or 500 %?).

    Examples
    --------
    >>> parse_fraction("5%"), parse_fraction("0.05"), parse_fraction(0.1)
    (0.05, 0.05, 0.1)
    >>> parse_fraction("5")
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: threshold='5' is ambiguous; write a percentage such as 5% or a fraction below 1
    """
    t = str(text).strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise LithmapError(f"{name}={text!r} is invalid; expected a percentage such as 5% "
                           "or a fraction such as 0.05") from None
    if not t.endswith("%") and value >= 1:
        raise LithmapError(f"{name}={text!r} is ambiguous; write a percentage such as {t}% or a fraction below 1")
    return value
