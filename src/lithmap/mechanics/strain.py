"""Chemical (intercalation) strain and elastic constants: what turns a lithium field θ into stress.

The strain is isotropic, ε*·I, from one of two routes:

- a partial molar volume Ω (m³/mol): ε*(θ) = Ω·c_max·(θ − θ_ref)/3, the linear route of the
  closed forms (Cheng & Verbrugge, J. Power Sources 2009; Zhang, Shyy & Sastry,
  J. Electrochem. Soc. 2007);
- a table of lattice parameters a(θ), c(θ) of a layered (hexagonal-setting) oxide: the cell volume
  V = a²·c·sin(π/3) and ε*(θ) = (V(θ)/V(θ_ref))^(1/3) − 1, the isotropic intercalation stretch
  F_ic = (1 + ΔV/V₀)^(1/3)·I of Liu, Zeng et al. (Nat. Nanotechnol. 2024), used in small strain.

Only differences of ε* make stress in a free particle, so θ_ref (default 1, fully lithiated)
changes no stress; it only sets which state is strain-free.

These functions are shared by the closed forms (:mod:`lithmap.mechanics.stress`) and the finite
elements (:mod:`lithmap.mechanics.fem`): both take the eigenstrain ε* returned here.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np

from ..errors import LithmapError

__all__ = ["LatticeTable", "MechanicalProperties", "chemical_strain", "elastic_constants", "lattice_volume",
           "mechanical_properties"]

#: Slack allowed when checking that a lattice table covers the θ range (round-off of a solver).
_COVER_TOL = 1e-6


def lattice_volume(a, c):
    """Hexagonal-setting cell volume V = a²·c·sin(π/3) (units of a²·c).

    Parameters
    ----------
    a, c : float or array
        Lattice parameters in one length unit.

    Returns
    -------
    float or array

    Examples
    --------
    >>> round(float(lattice_volume(2.85, 14.2)), 3)   # Å³, a Li-rich layered oxide
    99.887
    """
    return np.asarray(a, dtype=float) ** 2 * np.asarray(c, dtype=float) * math.sin(math.pi / 3)


@dataclasses.dataclass(frozen=True)
class LatticeTable:
    """Lattice parameters a(θ), c(θ) of a layered oxide, linearly interpolated in θ.

    Parameters
    ----------
    theta : array
        Lithium fractions, strictly increasing after sorting (any order accepted).
    a, c : array
        Lattice parameters at ``theta`` in one length unit (Å or m; only ratios are used).
    source : str
        Where the numbers come from (written into output attrs).

    Examples
    --------
    >>> t = LatticeTable([0, 1], [2.83, 2.85], [14.40, 14.24], source="toy")
    >>> round(float(t.strain(0.5, theta_ref=1.0)), 6)
    -0.000476
    >>> t.strain(1.2)
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: lattice table 'toy' covers theta 0 to 1 but theta reaches 1.2; give a table ...
    """

    theta: np.ndarray
    a: np.ndarray
    c: np.ndarray
    source: str = "lattice table"

    def __post_init__(self):
        th, a, c = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (self.theta, self.a, self.c))
        if not (th.ndim == a.ndim == c.ndim == 1 and th.size == a.size == c.size and th.size >= 2):
            raise LithmapError(f"lattice table {self.source!r} needs at least 2 rows of theta, a, c of equal length")
        if not (np.isfinite(th).all() and np.isfinite(a).all() and np.isfinite(c).all()):
            raise LithmapError(f"lattice table {self.source!r} has non-finite values")
        if (a <= 0).any() or (c <= 0).any():
            raise LithmapError(f"lattice table {self.source!r} has a non-positive lattice parameter")
        order = np.argsort(th)
        th, a, c = th[order], a[order], c[order]
        if (np.diff(th) <= 0).any():
            raise LithmapError(f"lattice table {self.source!r} repeats a theta value")
        object.__setattr__(self, "theta", th)
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "c", c)

    @classmethod
    def from_csv(cls, path) -> LatticeTable:
        """Read columns ``theta``, ``a``, ``c`` (one length unit for a and c) from a CSV file."""
        path = Path(path)
        try:
            with open(path, newline="") as fh:
                rows = list(csv.DictReader(fh))
        except OSError as err:
            raise LithmapError(f"lattice table {str(path)!r} cannot be read: {err.strerror or err}") from None
        if not rows or not {"theta", "a", "c"} <= set(rows[0]):
            raise LithmapError(f"lattice table {str(path)!r} needs columns theta, a, c")
        try:
            cols = [[float(r[k]) for r in rows] for k in ("theta", "a", "c")]
        except (TypeError, ValueError):
            raise LithmapError(f"lattice table {str(path)!r} has a non-numeric value") from None
        return cls(*cols, source=str(path))

    @property
    def range(self) -> tuple[float, float]:
        return float(self.theta[0]), float(self.theta[-1])

    def check_covers(self, theta, what: str = "theta") -> None:
        """Raise :class:`LithmapError` unless every finite θ lies inside the table's θ range."""
        th = np.asarray(theta, dtype=float)
        th = th[np.isfinite(th)]
        if th.size == 0:
            return
        lo, hi = self.range
        tmin, tmax = float(th.min()), float(th.max())
        if tmin < lo - _COVER_TOL or tmax > hi + _COVER_TOL:
            bad = tmin if tmin < lo - _COVER_TOL else tmax
            raise LithmapError(
                f"lattice table {self.source!r} covers theta {lo:g} to {hi:g} but {what} reaches {bad:.6g}; "
                "give a table covering the range"
            )

    def volume(self, theta):
        """Cell volume V(θ) = a(θ)²·c(θ)·sin(π/3), a and c interpolated linearly."""
        th = np.asarray(theta, dtype=float)
        return lattice_volume(np.interp(th, self.theta, self.a), np.interp(th, self.theta, self.c))

    def strain(self, theta, theta_ref: float = 1.0):
        """ε*(θ) = (V(θ)/V(θ_ref))^(1/3) − 1 (dimensionless); θ outside the table is an error."""
        self.check_covers(theta)
        self.check_covers(theta_ref)
        return np.cbrt(self.volume(theta) / self.volume(theta_ref)) - 1.0

    def describe(self) -> str:
        lo, hi = self.range
        return f"lattice table {self.source} ({self.theta.size} rows, theta {lo:g}-{hi:g})"


def _quantity(value, unit, name):
    from ..io.units import parse_quantity

    return parse_quantity(value if isinstance(value, str) else float(value), unit, name=name)


@dataclasses.dataclass(frozen=True)
class MechanicalProperties:
    """The constants of a chemo-elastic calculation (SI).

    ``youngs_modulus`` (Pa), ``poisson_ratio`` (−1 < ν < 0.5), and the strain route: a
    ``lattice`` table, else ``partial_molar_volume`` (m³/mol) with ``c_max`` (mol/m³).
    ``theta_ref`` is the strain-free lithium fraction. Make one with :func:`mechanical_properties`.

    Examples
    --------
    >>> p = MechanicalProperties(1e11, 0.25, partial_molar_volume=2e-6, c_max=5e4)
    >>> p.route, p.shear_modulus, round(float(p.strain(0.7)), 6)
    ('partial_molar_volume', 40000000000.0, -0.01)
    """

    youngs_modulus: float
    poisson_ratio: float
    partial_molar_volume: float | None = None
    c_max: float | None = None
    lattice: LatticeTable | None = None
    theta_ref: float = 1.0
    provenance: dict = dataclasses.field(default_factory=dict)

    @property
    def shear_modulus(self) -> float:
        """μ = E / (2(1 + ν)), Pa."""
        return self.youngs_modulus / (2 * (1 + self.poisson_ratio))

    @property
    def lame_lambda(self) -> float:
        """λ = Eν / ((1 + ν)(1 − 2ν)), Pa."""
        nu = self.poisson_ratio
        return self.youngs_modulus * nu / ((1 + nu) * (1 - 2 * nu))

    @property
    def route(self) -> str:
        return "lattice" if self.lattice is not None else "partial_molar_volume"

    def strain(self, theta):
        """ε*(θ), dimensionless, same shape as ``theta`` (see :func:`chemical_strain`)."""
        th = np.asarray(theta, dtype=float)
        if self.lattice is not None:
            return self.lattice.strain(th, self.theta_ref)
        return self.partial_molar_volume * self.c_max * (th - self.theta_ref) / 3.0

    def attrs(self) -> dict:
        """The constants as NetCDF-safe attrs (SI; absent ones omitted)."""
        out = {"youngs_modulus": self.youngs_modulus, "poisson_ratio": self.poisson_ratio,
               "strain_route": self.route, "theta_ref": self.theta_ref}
        if self.c_max is not None:
            out["c_max"] = self.c_max
        if self.partial_molar_volume is not None:
            out["partial_molar_volume"] = self.partial_molar_volume
        if self.lattice is not None:
            out["lattice_table"] = self.lattice.describe()
        out.update({f"mechanics_{k}": str(v) for k, v in self.provenance.items()})
        return out


def elastic_constants(material=None, *, youngs_modulus=None, poisson_ratio=None) -> tuple[float, float]:
    """Young's modulus E (Pa) and Poisson's ratio ν, given or from a material's mechanical preset.

    Parameters
    ----------
    material : str, Material or MechanicalProperties, optional
        A preset name (``"lrtmo"``, ``"nmc811"``) or object whose preset values fill what is not given.
    youngs_modulus : float or str, optional
        Pa or a quantity (``"100GPa"``).
    poisson_ratio : float, optional

    Returns
    -------
    (float, float)

    Raises
    ------
    LithmapError
        E ≤ 0, ν outside (−1, 0.5), or neither given nor known for the material.

    Examples
    --------
    >>> elastic_constants(youngs_modulus="100GPa", poisson_ratio=0.3)
    (100000000000.0, 0.3)
    >>> elastic_constants(youngs_modulus=1e11, poisson_ratio=0.5)
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: poisson_ratio=0.5 is invalid; expected -1 < nu < 0.5
    """
    if isinstance(material, MechanicalProperties):
        preset = {"youngs_modulus": material.youngs_modulus, "poisson_ratio": material.poisson_ratio}
    else:
        preset = _preset(material)
    E = youngs_modulus if youngs_modulus is not None else preset.get("youngs_modulus")
    nu = poisson_ratio if poisson_ratio is not None else preset.get("poisson_ratio")
    if E is None or nu is None:
        missing = "youngs_modulus" if E is None else "poisson_ratio"
        raise LithmapError(f"{missing} is not given and not known for material={_name(material)!r}; give it "
                           "(e.g. --youngs-modulus 100GPa --poisson-ratio 0.3)")
    shown = E
    E = _quantity(E, "Pa", "youngs_modulus")
    if not (np.isfinite(E) and E > 0):
        raise LithmapError(f"youngs_modulus={shown!r} is invalid; expected a positive modulus such as 100GPa")
    try:
        nu_value = float(nu)
    except (TypeError, ValueError):
        raise LithmapError(f"poisson_ratio={nu!r} is invalid; expected a number with -1 < nu < 0.5") from None
    if not (np.isfinite(nu_value) and -1 < nu_value < 0.5):
        raise LithmapError(f"poisson_ratio={nu!r} is invalid; expected -1 < nu < 0.5")
    return E, nu_value


def mechanical_properties(material=None, *, youngs_modulus=None, poisson_ratio=None, partial_molar_volume=None,
                          c_max=None, lattice=None, theta_ref=None) -> MechanicalProperties:
    """The constants of a stress calculation: what is given, the rest from the material's preset.

    Parameters
    ----------
    material : str, Material or MechanicalProperties, optional
        ``"lrtmo"`` (a lattice table and E, ν of the Li-rich oxide), ``"nmc811"``, or a
        :class:`~lithmap.physics.materials.Material` (its ``c_max`` is used).
    youngs_modulus : float or str, optional
        Pa or ``"100GPa"``.
    poisson_ratio : float, optional
    partial_molar_volume : float or str, optional
        m³/mol or ``"2e-6m^3/mol"``. Given, it selects the linear route (over a preset's lattice table).
    c_max : float or str, optional
        mol/m³ or ``"50000mol/m^3"``.
    lattice : LatticeTable, str or Path, optional
        A table (or CSV with columns theta, a, c); selects the lattice route.
    theta_ref : float, optional
        The strain-free θ (default 1).

    Returns
    -------
    MechanicalProperties

    Raises
    ------
    LithmapError
        E ≤ 0, ν outside (−1, 0.5), Ω without c_max, no strain route, θ_ref outside a lattice table.

    Examples
    --------
    >>> p = mechanical_properties(youngs_modulus="100GPa", poisson_ratio=0.3,
    ...                           partial_molar_volume="2e-6m^3/mol", c_max="50000mol/m^3")
    >>> round(float(p.strain(0.9)), 6)   # Ω c_max (θ − 1) / 3
    -0.003333
    >>> mechanical_properties("lrtmo").route
    'lattice'
    """
    E, nu = elastic_constants(material, youngs_modulus=youngs_modulus, poisson_ratio=poisson_ratio)
    omega, cmax, table, tref, prov = _strain_route(material, partial_molar_volume, c_max, lattice, theta_ref)
    given = [k for k, v in (("youngs_modulus", youngs_modulus), ("poisson_ratio", poisson_ratio)) if v is not None]
    if given:
        prov["given"] = ", ".join(filter(None, [prov.get("given"), *given]))
    return MechanicalProperties(E, nu, omega, cmax, table, tref, prov)


def _strain_route(material, partial_molar_volume, c_max, lattice, theta_ref):
    """(Ω, c_max, lattice table, θ_ref, provenance) from what is given and the material's preset."""
    if isinstance(material, MechanicalProperties):
        preset = {"partial_molar_volume": material.partial_molar_volume, "c_max": material.c_max,
                  "lattice": material.lattice, "theta_ref": material.theta_ref, "provenance": material.provenance}
    else:
        preset = _preset(material)
    given = []
    if c_max is None:
        c_max = preset.get("c_max")
        if c_max is None and material is not None and not isinstance(material, str):
            c_max = getattr(material, "c_max", None)
    else:
        given.append("c_max")
    if c_max is not None:
        shown = c_max
        c_max = _quantity(c_max, "mol/m^3", "c_max")
        if not (np.isfinite(c_max) and c_max > 0):
            raise LithmapError(f"c_max={shown!r} is invalid; expected a positive concentration such as 50000mol/m^3")
    if partial_molar_volume is not None and lattice is not None:
        raise LithmapError("give partial_molar_volume (a linear strain) or a lattice table, not both")
    if partial_molar_volume is not None:
        given.append("partial_molar_volume")
        shown = partial_molar_volume
        omega = _quantity(partial_molar_volume, "m^3/mol", "partial_molar_volume")
        if not np.isfinite(omega):
            raise LithmapError(f"partial_molar_volume={shown!r} is invalid; expected m^3/mol such as 2e-6m^3/mol")
        table = None if lattice is None else _as_lattice(lattice)
    else:
        omega = preset.get("partial_molar_volume")
        table = _as_lattice(lattice) if lattice is not None else preset.get("lattice")
    if lattice is not None:
        given.append("lattice")
    if table is None and omega is None:
        raise LithmapError(f"no strain route for material={_name(material)!r}: give partial_molar_volume "
                           "(e.g. 2e-6m^3/mol) with c_max, or a lattice table (theta, a, c)")
    if table is None and c_max is None:
        raise LithmapError("c_max is needed with partial_molar_volume; give it (e.g. --c-max 50000mol/m^3)")
    tref = preset.get("theta_ref", 1.0) if theta_ref is None else theta_ref
    try:
        tref = float(tref)
    except (TypeError, ValueError):
        tref = float("nan")
    if not (np.isfinite(tref) and 0 <= tref <= 1):
        raise LithmapError(f"theta_ref={theta_ref!r} is invalid; expected a lithium fraction in [0, 1]")
    if table is not None:
        table.check_covers(tref, what="the reference state theta_ref (where the strain is zero; theta_ref= in Python)")
    prov = dict(preset.get("provenance", {}))
    if given:
        prov["given"] = ", ".join(given)
    return omega, c_max, table, tref, prov


def chemical_strain(theta, material=None, **constants):
    """The isotropic chemical strain ε*(θ) (dimensionless) of a lithium field.

    Parameters
    ----------
    theta : array or xarray.DataArray
        Lithium fraction(s).
    material : str, Material or MechanicalProperties, optional
        Where the constants not given come from (see :func:`mechanical_properties`).
    **constants
        ``partial_molar_volume``, ``c_max``, ``lattice``, ``theta_ref`` (as for
        :func:`mechanical_properties`); ``youngs_modulus`` and ``poisson_ratio`` are accepted and ignored.

    Returns
    -------
    numpy array, or a DataArray on the same coordinates (``units`` "1") when ``theta`` is one.

    Raises
    ------
    LithmapError
        No strain route, or θ outside a lattice table.

    Examples
    --------
    >>> chemical_strain([1.0, 0.7], partial_molar_volume=2e-6, c_max=5e4)
    array([ 0.  , -0.01])
    >>> round(float(chemical_strain(0.5, "lrtmo")), 5)   # the lrtmo lattice table, θ_ref = 1
    -0.0016
    """
    import xarray as xr

    constants.pop("youngs_modulus", None)
    constants.pop("poisson_ratio", None)
    unknown = set(constants) - {"partial_molar_volume", "c_max", "lattice", "theta_ref"}
    if unknown:
        raise TypeError(f"chemical_strain() got unexpected keyword argument(s) {sorted(unknown)}")
    if isinstance(material, MechanicalProperties) and not constants:
        props = material
    else:
        omega, cmax, table, tref, prov = _strain_route(
            material, constants.get("partial_molar_volume"), constants.get("c_max"), constants.get("lattice"),
            constants.get("theta_ref"))
        props = MechanicalProperties(float("nan"), float("nan"), omega, cmax, table, tref, prov)
    if isinstance(theta, xr.DataArray):
        out = xr.apply_ufunc(props.strain, theta)
        out.name = "chemical_strain"
        out.attrs = {"units": "1", "long_name": "isotropic chemical strain", "strain_route": props.route}
        return out
    return props.strain(np.asarray(theta, dtype=float))


# --------------------------------------------------------------------------------- presets


def _name(material):
    if material is None:
        return None
    return material if isinstance(material, str) else getattr(material, "name", repr(material))


def _preset(material) -> dict:
    """The mechanical preset of a material (name or object), or {} when none is known."""
    name = _name(material)
    if name is None:
        return {}
    from ..physics import materials as mats

    table = getattr(mats, "MECHANICAL_PRESETS", {})
    key = str(name).strip().lower()
    if key in table:
        entry = table[key]
        entry = entry() if callable(entry) else dict(entry)
        return entry
    if isinstance(material, str) and key not in getattr(mats, "PRESETS", {}):
        raise LithmapError(f"material={material!r} is invalid; expected one of {sorted(mats.PRESETS)}")
    return {}


def _as_lattice(value) -> LatticeTable:
    if isinstance(value, LatticeTable):
        return value
    if isinstance(value, (str, Path)):
        return LatticeTable.from_csv(value)
    if isinstance(value, dict):
        return LatticeTable(value["theta"], value["a"], value["c"], source=value.get("source", "lattice table"))
    raise LithmapError(f"lattice={value!r} is invalid; expected a LatticeTable or a CSV with columns theta, a, c")
