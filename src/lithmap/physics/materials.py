"""Cathode materials: D(θ), OCV(θ), exchange current density and capacities.

θ is the lithium fraction c / c_max in [0, 1] (θ = 1 fully lithiated). Every function of θ
returns ``(value, derivative)`` so the implicit solver gets exact Jacobians.

The apparent diffusivity used by the engine is ``alpha * D(θ)`` (Xu, Merryweather et al.,
Joule 2022, Fig. 3B: D_app ≡ α·D_GITT).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import LithmapError

FARADAY = 96485.33212  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)
C_PER_KG_PER_MAH_PER_G = 3600.0  # 1 mA h / g = 3.6 C/g = 3600 C/kg (for display only)


class Diffusivity:
    """D(θ) in m²/s. Subclasses implement :meth:`evaluate` returning ``(D, dD/dθ)``; calling
    one gives D alone.

    Examples
    --------
    >>> d = ConstantDiffusivity(1e-18)
    >>> d.evaluate([0.5, 0.9])
    (array([1.e-18, 1.e-18]), array([0., 0.]))
    """

    def evaluate(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, theta):
        return self.evaluate(np.asarray(theta, dtype=float))[0]


class ConstantDiffusivity(Diffusivity):
    """A constant D.

    Parameters
    ----------
    value : float or str
        m²/s, or a quantity with units (``"1e-14cm^2/s"``).

    Examples
    --------
    >>> ConstantDiffusivity(1e-18)(0.5)
    array(1.e-18)
    >>> ConstantDiffusivity("1e-14cm^2/s").value
    1e-18
    """

    def __init__(self, value: float):
        from ..io.units import parse_quantity

        value = parse_quantity(value, "m^2/s", name="diffusivity") if isinstance(value, str) else float(value)
        if not (math.isfinite(value) and value > 0):
            raise LithmapError(f"diffusivity={value!r} is invalid; expected a positive finite value in m^2/s")
        self.value = value

    def evaluate(self, theta):
        theta = np.asarray(theta, dtype=float)
        return np.full_like(theta, self.value), np.zeros_like(theta)

    def table(self):
        """(theta, ln D, slope of ln D) rows for the compiled kernels."""
        return np.zeros(1), np.array([np.log(self.value)]), np.zeros(1)

    def __repr__(self):
        return f"ConstantDiffusivity({self.value:g} m^2/s)"


class TabulatedDiffusivity(Diffusivity):
    """D(θ) from a table: linear interpolation of log10 D in θ, flat outside the table.

    This is how a GITT result (one D per pulse) becomes a continuous D(θ).

    Parameters
    ----------
    theta : array_like
        Lithium fractions in [0, 1], distinct.
    diffusivity : array_like
        D at those θ, m²/s (positive).
    source : str
        Where the table comes from (for messages and ``repr``).

    Examples
    --------
    >>> d = TabulatedDiffusivity([0.8, 1.0], [1e-16, 1e-18])
    >>> round(float(d(0.9)) * 1e17, 12)  # halfway in log space: 1e-17
    1.0
    """

    def __init__(self, theta, diffusivity, *, source: str = "table"):
        theta = np.asarray(theta, dtype=float).ravel()
        diffusivity = np.asarray(diffusivity, dtype=float).ravel()
        if theta.size == 0 or theta.size != diffusivity.size:
            raise LithmapError(
                f"diffusivity table from {source} is invalid: {theta.size} theta values and "
                f"{diffusivity.size} diffusivities"
            )
        bad = ~(np.isfinite(diffusivity) & (diffusivity > 0))
        if bad.any():
            raise LithmapError(
                f"diffusivity={float(diffusivity[bad][0])!r} in {source} is invalid; "
                "expected positive finite values in m^2/s"
            )
        badt = ~(np.isfinite(theta) & (theta >= 0) & (theta <= 1))
        if badt.any():
            raise LithmapError(f"theta={float(theta[badt][0])!r} in {source} is outside [0, 1]")
        order = np.argsort(theta, kind="stable")
        theta, diffusivity = theta[order], diffusivity[order]
        if np.any(np.diff(theta) == 0):
            raise LithmapError(f"diffusivity table from {source} repeats a theta value")
        self.theta = theta
        self.log_d = np.log10(diffusivity)
        self._ln_d = np.log(diffusivity)
        self._slope = np.diff(self._ln_d) / np.diff(theta) if theta.size > 1 else np.zeros(1)
        self.source = source

    def evaluate(self, theta):
        theta = np.asarray(theta, dtype=float)
        if self.theta.size == 1:
            return np.full_like(theta, 10.0 ** self.log_d[0]), np.zeros_like(theta)
        tc = np.clip(theta, self.theta[0], self.theta[-1])
        idx = np.minimum(np.searchsorted(self.theta, tc, side="right") - 1, self.theta.size - 2)
        slope = self._slope[idx]
        ln_d = self._ln_d[idx] + slope * (tc - self.theta[idx])
        d = np.exp(ln_d)
        return d, np.where(tc == theta, d * slope, 0.0)

    @classmethod
    def from_csv(cls, path: str | Path) -> TabulatedDiffusivity:
        """Read a CSV with columns ``theta`` and ``diffusivity_m2_s`` (other columns ignored).

        Rows whose diffusivity is empty or not a number are skipped (a GITT table marks
        unusable pulses that way); rows with a ``flags`` column are kept as they are.
        """
        from ..io.tables import read_columns

        _, rows = read_columns(path, ("theta", "diffusivity_m2_s"), what="diffusivity table")
        theta, diff = [], []
        for row in rows:
            try:
                t, d = float(row["theta"]), float(row["diffusivity_m2_s"])
            except (TypeError, ValueError):
                continue
            if math.isnan(t) or math.isnan(d):
                continue  # an unusable row (e.g. a flagged GITT pulse with no D)
            theta.append(t)
            diff.append(d)
        if not theta:
            raise LithmapError(f"diffusivity table {str(path)!r} has no numeric rows")
        return cls(theta, diff, source=str(path))

    def table(self):
        """(theta, ln D, slope of ln D) rows for the compiled kernels."""
        slope = self._slope if self.theta.size > 1 else np.zeros(1)
        return self.theta, self._ln_d, np.ascontiguousarray(slope, dtype=float)

    def __repr__(self):
        return f"TabulatedDiffusivity({self.theta.size} rows from {self.source})"


class FunctionOfTheta:
    """A scalar function of θ given by a callable, with a derivative (central difference if absent)."""

    def __init__(self, func: Callable, derivative: Callable | None = None, *, name: str = "f"):
        self.func, self.derivative, self.name = func, derivative, name

    def evaluate(self, theta):
        theta = np.asarray(theta, dtype=float)
        value = np.asarray(self.func(theta), dtype=float)
        if self.derivative is not None:
            return value, np.asarray(self.derivative(theta), dtype=float)
        h = 1e-6
        return value, (np.asarray(self.func(theta + h)) - np.asarray(self.func(theta - h))) / (2 * h)

    def __call__(self, theta):
        return self.evaluate(theta)[0]

    def __repr__(self):
        return f"FunctionOfTheta({self.name})"


class FunctionDiffusivity(FunctionOfTheta, Diffusivity):
    """D(θ) from a formula ``func(theta) -> m²/s`` (optionally with its derivative; a central
    difference otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> d = FunctionDiffusivity(lambda th: 1e-18 * np.exp(2 * (1 - th)), name="exponential")
    >>> float(d(1.0)), d
    (1e-18, FunctionOfTheta(exponential))
    """


def as_diffusivity(value) -> Diffusivity:
    """D(θ) from what a user gives: a :class:`Diffusivity`, a number (m²/s), a quantity string
    (``"1e-14cm^2/s"``) or the path of a CSV table with columns ``theta`` and
    ``diffusivity_m2_s`` (e.g. a ``lithmap gitt`` result).

    Parameters
    ----------
    value : Diffusivity, float, str or Path

    Returns
    -------
    Diffusivity

    Raises
    ------
    LithmapError
        A value that is not a positive finite diffusivity, or an unreadable table (the message
        names it).

    Examples
    --------
    >>> as_diffusivity("1e-14 cm^2/s")
    ConstantDiffusivity(1e-18 m^2/s)
    >>> as_diffusivity(2e-16).value
    2e-16
    """
    from ..io.units import parse_quantity

    if isinstance(value, Diffusivity):
        return value
    if isinstance(value, Path) or (isinstance(value, str) and Path(value.strip()).suffix.lower() == ".csv"):
        return TabulatedDiffusivity.from_csv(value)
    if isinstance(value, str) and not _is_number(value) and Path(value.strip()).is_file():
        return TabulatedDiffusivity.from_csv(value.strip())
    if isinstance(value, bool) or not isinstance(value, (str, int, float, np.floating, np.integer)):
        raise LithmapError(f"diffusivity={value!r} is invalid; expected m^2/s, a quantity such as '1e-14cm^2/s' "
                           "or a CSV table (theta, diffusivity_m2_s)")
    number = parse_quantity(value if isinstance(value, str) else float(value), "m^2/s", name="diffusivity")
    if not number > 0:
        raise LithmapError(f"diffusivity={value!r} is invalid; expected a positive value such as 1e-14cm^2/s")
    return ConstantDiffusivity(number)


def _is_number(text) -> bool:
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def _nmc811_ocv(theta):
    # Chen et al. (2020), J. Electrochem. Soc. 167, 080534: NMC811 (LG M50) OCP fit in stoichiometry.
    u = (
        -0.809 * theta
        + 4.4875
        - 0.0428 * np.tanh(18.5138 * (theta - 0.5542))
        - 17.7326 * np.tanh(15.789 * (theta - 0.3117))
        + 17.5842 * np.tanh(15.9308 * (theta - 0.312))
    )
    return u


def _nmc811_docv(theta):
    sech2 = lambda a, b: 1.0 - np.tanh(a * (theta - b)) ** 2  # noqa: E731
    return (
        -0.809
        - 0.0428 * 18.5138 * sech2(18.5138, 0.5542)
        - 17.7326 * 15.789 * sech2(15.789, 0.3117)
        + 17.5842 * 15.9308 * sech2(15.9308, 0.312)
    )


def symmetric_exchange_current(j0_half: float, *, eps: float = 1e-4) -> FunctionOfTheta:
    """j0(θ) = 2·j0_half·sqrt(θ(1−θ)) in A/m² (j0_half at θ = 0.5; zero at θ = 0 and 1).

    Where θ(1−θ) < ``eps`` (θ within ~1e-4 of a bound) the square root is continued linearly,
    j0 = 2·j0_half·θ(1−θ)/√eps: same value at the joint, still zero at the bounds, but with a
    finite slope, which Newton's method needs when a surface sits at θ → 1 during a voltage
    hold after a discharge (the square root's infinite slope makes it converge only linearly).
    """
    root = np.sqrt(eps)

    def j0(theta):
        p = np.clip(theta, 0.0, 1.0) * (1.0 - np.clip(theta, 0.0, 1.0))
        return 2.0 * j0_half * np.where(p >= eps, np.sqrt(np.maximum(p, eps)), p / root)

    def dj0(theta):
        t = np.clip(theta, 0.0, 1.0)
        p = t * (1.0 - t)
        dp = (1.0 - 2.0 * t) * ((theta >= 0) & (theta <= 1))
        return 2.0 * j0_half * dp * np.where(p >= eps, 0.5 / np.sqrt(np.maximum(p, eps)), 1.0 / root)

    return FunctionOfTheta(j0, dj0, name=f"2*{j0_half:g}*sqrt(theta*(1-theta)) A/m^2")


@dataclasses.dataclass(frozen=True)
class Material:
    """A cathode active material.

    Parameters
    ----------
    name : str
    diffusivity : Diffusivity
        D(θ) in m²/s (e.g. from GITT). The engine uses ``alpha * diffusivity``.
    alpha : float
        Default scale factor for D (the α of Xu, Merryweather et al., Joule 2022: D_app = α·D_GITT);
        1 unless the preset states a fitted value.
    ocv : FunctionOfTheta, optional
        Open-circuit voltage U(θ) in V vs Li/Li⁺.
    exchange_current : FunctionOfTheta, optional
        Butler–Volmer exchange current density j0(θ) in A/m² (symmetric, α_a = α_c = 0.5).
    c_max : float or str, optional
        Maximum lithium concentration, mol/m³ (or a quantity such as ``"48.7 mol/L"``).
    molar_mass : float or str, optional
        Molar mass of the fully lithiated formula unit, kg/mol (or ``"97.46 g/mol"``); gives the
        theoretical capacity.
    density : float or str, optional
        kg/m³ (or ``"4.75 g/cm^3"``).
    practical_capacity : float or str, optional
        The charge per mass that 1C delivers in one hour, C/kg (or ``"210 mAh/g"``).
    voltage_window : (float, float), optional
        Lower and upper cut-off voltages, V.
    temperature : float or str
        K.
    current_distribution : {"uniform", "butler-volmer"}
        How a current step's lithium flux spreads over the particle surface: uniformly (the
        default, as in PyBaMM's single-particle models), or by Butler–Volmer at one particle
        potential, each surface point at its own j0(θ) and U(θ), the potential set each instant
        so that the total current is the imposed one (the galvanostatic particle of Liu, Zeng et
        al., Nat. Nanotechnol. 2024). Needs ``ocv``, ``exchange_current`` and ``c_max``.
    counter_exchange_current : float or str, optional
        Exchange current density (A/m², referred to the particle's surface area) of a lithium-metal
        counter electrode, i = i0·(C/C_ref)^α_a·(exp(α_a F η/RT) − exp(−α_c F η/RT)) with the
        electrolyte at its reference concentration and α_a = α_c = 0.5 (Liu, Zeng et al.): its
        overpotential is added to the reported voltage, so ``voltage`` is that of the cell, and a
        voltage hold holds the cell voltage (the particle potential is solved with it). None: the
        voltage is the particle's vs Li/Li⁺ (a reference electrode). Needs ``exchange_current``
        and ``c_max``.
    migration : {"none", "ambipolar"}
        The migration term of the lithium flux J = −D∇C − z·u·F·C·∇φ (u = D/RT; Liu, Zeng et al.,
        Nat. Nanotechnol. 2024, Methods) needs the potential φ inside the particle. ``"none"``
        (default): the particle is an electronic conductor at one potential, ∇φ = 0, so J = −D∇C
        (a chemical D measured by GITT already holds any internal field). ``"ambipolar"``:
        electroneutral with electrons far more mobile than Li⁺ and no net current inside, so
        ∇φ = (RT/F)∇ln C and J = −(1 + z)·D∇C = −2D∇C (Wagner's ambipolar diffusion; z = 1).
    provenance : dict
        Which numbers come from where (paper, assumption) — written into output attrs.

    Notes
    -----
    Quantities given as text are parsed by :func:`lithmap.io.units.parse_quantity` and kept in
    SI; only what is printed for people (:meth:`describe`, :attr:`c_rate_convention`) is in
    mA h / g.

    Examples
    --------
    >>> m = Material("my oxide", ConstantDiffusivity(1e-16), molar_mass="97.5 g/mol", practical_capacity="200 mAh/g")
    >>> m.molar_mass, m.practical_capacity  # kg/mol, C/kg
    (0.0975, 720000.0)
    >>> round(m.theoretical_capacity / 3600, 1), round(m.capacity_fraction, 4)  # mA h / g, fraction
    (274.9, 0.7276)
    >>> m.c_rate_convention.startswith("1C delivers the practical capacity 200 mA h / g")
    True
    """

    name: str
    diffusivity: Diffusivity
    alpha: float = 1.0
    ocv: FunctionOfTheta | None = None
    exchange_current: FunctionOfTheta | None = None
    c_max: float | str | None = None
    molar_mass: float | str | None = None
    density: float | str | None = None
    practical_capacity: float | str | None = None
    voltage_window: tuple[float, float] | None = None
    temperature: float | str = 298.15
    current_distribution: str = "uniform"
    counter_exchange_current: float | str | None = None
    migration: str = "none"
    provenance: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        from ..io.units import parse_quantity

        if self.migration not in ("none", "ambipolar"):
            raise LithmapError(f"migration={self.migration!r} is invalid; expected 'none' or 'ambipolar'")
        if self.current_distribution not in ("uniform", "butler-volmer"):
            raise LithmapError(f"current_distribution={self.current_distribution!r} is invalid; expected "
                               "'uniform' or 'butler-volmer'")
        if self.current_distribution == "butler-volmer" and (
                self.ocv is None or self.exchange_current is None or self.c_max is None):
            raise LithmapError(f"current_distribution='butler-volmer' needs an OCV, an exchange current density and "
                               f"c_max; material {self.name!r} lacks one")
        if self.counter_exchange_current is not None:
            if self.ocv is None or self.exchange_current is None or self.c_max is None:
                raise LithmapError(f"counter_exchange_current needs an OCV, an exchange current density and c_max; "
                                   f"material {self.name!r} lacks one")
            i0 = self.counter_exchange_current
            i0 = parse_quantity(i0 if isinstance(i0, str) else float(i0), "A/m^2", name="counter_exchange_current")
            if not (np.isfinite(i0) and i0 > 0):
                raise LithmapError(f"counter_exchange_current={self.counter_exchange_current!r} is invalid; "
                                   "expected a positive current density such as 10A/m^2")
            object.__setattr__(self, "counter_exchange_current", i0)

        for field, unit in _QUANTITIES.items():
            value = getattr(self, field)
            if value is None and field != "temperature":
                continue
            number = parse_quantity(value if isinstance(value, str) else float(value), unit, name=field)
            if not number > 0:
                raise LithmapError(f"{field}={value!r} is invalid; expected a positive quantity in {unit}")
            object.__setattr__(self, field, number)

    @property
    def migration_factor(self) -> float:
        """What the migration closure multiplies D by: 1 (``"none"``) or 1 + z = 2 (``"ambipolar"``)."""
        return 2.0 if self.migration == "ambipolar" else 1.0

    @property
    def theoretical_capacity(self) -> float | None:
        """C/kg for removing all lithium (θ 1 → 0): F / molar mass."""
        return None if self.molar_mass is None else FARADAY / self.molar_mass

    @property
    def capacity_fraction(self) -> float:
        """Fraction of θ that 1C moves in one hour: practical / theoretical capacity
        (= practical capacity × molar mass / F), else 1."""
        if self.practical_capacity is not None and self.molar_mass is not None:
            return self.practical_capacity * self.molar_mass / FARADAY
        return 1.0

    @property
    def c_rate_convention(self) -> str:
        """What 1C means for this material (written into every simulation's attrs; mA h / g for people)."""
        if self.capacity_fraction != 1.0:
            return (
                f"1C delivers the practical capacity {self.practical_capacity / C_PER_KG_PER_MAH_PER_G:g} mA h / g "
                f"in one hour (theta moves by {self.capacity_fraction:.4f} per hour at 1C; theoretical "
                f"{self.theoretical_capacity / C_PER_KG_PER_MAH_PER_G:.1f} mA h / g)"
            )
        return "1C moves the whole particle's theta by 1 in one hour"

    def replace(self, **changes) -> Material:
        """A copy with some fields changed (e.g. ``diffusivity``)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """A few lines on the material and where its numbers come from (``lithmap materials``).

        Examples
        --------
        >>> print(nmc811().describe().splitlines()[0])
        nmc811: alpha=2.7, practical 210 mA h / g, window (3.0, 4.3) V
        """
        cap = "-"
        if self.practical_capacity is not None:
            cap = f"{self.practical_capacity / C_PER_KG_PER_MAH_PER_G:g} mA h / g"
        lines = [f"{self.name}: alpha={self.alpha:g}, practical {cap}, window {self.voltage_window} V"]
        lines += [f"  {k}: {v}" for k, v in self.provenance.items()]
        return "\n".join(lines)


def nmc811() -> Material:
    """Ni-rich layered oxide of Xu, Merryweather et al., Joule 2022 (LiNi0.88Mn0.05Co0.07O2,
    'NMC811'-class, single crystal).

    From the paper (operando optical microscopy of single NMC811 particles):
    - D_app = α·D_GITT ≈ 1e-14 cm²/s (1e-18 m²/s) near full lithiation, rising almost two orders
      of magnitude after 20 % of the lithium is removed, with α = 2.7 (Fig. 3B);
    - practical capacity 210 mAh/g defines the C-rate (C/3 = 70 mA/g); window 3.0–4.3 V;
    - θ ≈ 0.97 at OCV ≈ 3.5 V after a CV hold (Fig. 4A caption).
    Assumptions (not from the paper):
    - the D shape: log-linear from 1e-18/α m²/s at θ = 1 to 1e-16/α m²/s at θ = 0.8, flat below
      (the same form as the PyBaMM reference in analytic-benchmarks.md);
    - OCV: Chen et al. 2020 (J. Electrochem. Soc. 167, 080534) NMC811 fit for the LG M50 cell,
      used as θ ↦ U with θ = stoichiometry (it gives 3.51 V at θ = 0.97, as the paper reports);
    - j0(θ) = 2·3.4 A/m²·sqrt(θ(1−θ)): Chen 2020's rate constant 3.42e-6 m^2.5/(mol^0.5 s) with
      c_e = 1 M and c_max = 63 104 mol/m³ gives 3.4 A/m² at θ = 0.5;
    - molar mass 97.46 g/mol from the nominal formula (theoretical 275.0 mAh/g), density
      4.75 g/cm³ → c_max = 48 740 mol/m³.

    The material's fields are SI: molar mass in kg/mol, density in kg/m³, practical capacity
    in C/kg (210 mAh/g = 756 000 C/kg).

    Parameters
    ----------
    None

    Returns
    -------
    Material

    Examples
    --------
    >>> m = nmc811()
    >>> m.alpha, m.practical_capacity, round(float(m.ocv(0.97)), 2)  # practical capacity in C/kg
    (2.7, 756000.0, 3.51)
    >>> round(m.molar_mass, 5), m.density, round(m.c_max)  # kg/mol, kg/m^3, mol/m^3
    (0.09746, 4750.0, 48737)
    """
    alpha = 2.7
    formula_g_mol = 6.941 + 0.88 * 58.693 + 0.05 * 54.938 + 0.07 * 58.933 + 2 * 15.999  # LiNi.88Mn.05Co.07O2
    return Material(
        name="nmc811",
        diffusivity=TabulatedDiffusivity([0.8, 1.0], [1e-16 / alpha, 1e-18 / alpha], source="nmc811 preset"),
        alpha=alpha,
        ocv=FunctionOfTheta(_nmc811_ocv, _nmc811_docv, name="Chen2020 NMC811 OCP"),
        exchange_current=symmetric_exchange_current(3.4),
        c_max=4.75e6 / formula_g_mol,  # mol/m^3: density / molar mass (4.75e6 g/m^3 over g/mol)
        molar_mass=formula_g_mol / 1000.0,  # kg/mol
        density=4750.0,  # kg/m^3
        practical_capacity=210.0 * C_PER_KG_PER_MAH_PER_G,  # 210 mA h / g, in C/kg
        voltage_window=(3.0, 4.3),
        provenance={
            "paper": "Xu, Merryweather et al., Joule 2022 (operando optical microscopy of NMC811): "
            "D_app 1e-18 m^2/s at theta=1 rising ~100x by theta=0.8 with alpha=2.7; "
            "210 mA h / g practical; 3.0-4.3 V; theta0~0.97 at 3.5 V",
            "assumed": "log-linear D shape; OCV Chen et al. 2020 NMC811 (LG M50); "
            "j0 = 6.8 A/m^2 sqrt(theta(1-theta)); density 4.75 g/cm^3",
        },
    )


#: Arrhenius clamp of the Li-rich oxide's D(T) (Liu, Zeng et al., Nat. Nanotechnol. 2024, Methods), K.
LRTMO_T_CLAMP = (223.15, 393.15)


def lrtmo_diffusivity(temperature=298.15) -> float:
    """D(T) = 5e-13 m²/s · exp(1200 K · (1/298 K − 1/T₂)), T₂ = min(393.15, max(T, 223.15)) K: the
    lithium diffusivity of the Li-rich particle model of Liu, Zeng et al. (Nat. Nanotechnol. 2024,
    Methods; the printed formula omits the ``exp``, restored here).

    A temperature outside the clamp is refused (:class:`~lithmap.errors.LithmapError`): the paper
    clamps T₂ to [223.15, 393.15] K, so such a T would silently be simulated as the bound.

    Parameters
    ----------
    temperature : float or str
        K, or a quantity such as ``"310K"``.

    Returns
    -------
    float
        D in m²/s.

    Examples
    --------
    >>> lrtmo_diffusivity(298.0), f"{lrtmo_diffusivity(323.15):.3e}"
    (5e-13, '6.840e-13')
    >>> try:
    ...     lrtmo_diffusivity(400)
    ... except LithmapError as err:
    ...     print(str(err)[:70])
    temperature=400 K is outside the Arrhenius clamp 223.15-393.15 K of th
    """
    from ..io.units import parse_quantity

    shown = temperature
    t = parse_quantity(temperature if isinstance(temperature, str) else float(temperature), "K", name="temperature")
    lo, hi = LRTMO_T_CLAMP
    if not np.isfinite(t) or t < lo or t > hi:
        bound = lo if np.isfinite(t) and t < lo else hi
        raise LithmapError(
            f"temperature={shown!r}{'' if isinstance(shown, str) else ' K'} is outside the Arrhenius clamp "
            f"{lo:g}-{hi:g} K of the lrtmo D(T) "
            f"(Liu, Zeng et al. clamp T to it, so D would be that of {bound:g} K); give a temperature inside it"
        )
    t2 = min(hi, max(t, lo))
    return float(5e-13 * np.exp(1200.0 * (1.0 / 298.0 - 1.0 / t2)))


def _lrtmo_ocv(theta):
    # Assumed smooth Li-rich discharge-like curve (not from the paper): ~3.05 V at theta=0.97, ~4.4 V at 0.05.
    t = np.clip(theta, 1e-6, 1 - 1e-6)
    return 3.75 - 0.9 * (t - 0.5) - 0.08 * np.log(t / (1 - t))


def _lrtmo_docv(theta):
    t = np.clip(theta, 1e-6, 1 - 1e-6)
    return -0.9 - 0.08 / (t * (1 - t))


#: Lattice parameters (Å) of the Li-rich layered oxide against θ = Li/1.2 on the first charge:
#: ASSUMED representative values (pristine a = 2.851 Å, c = 14.232 Å; a contracts and c expands
#: through the sloping region to θ ≈ 0.5, then c contracts on the oxygen-redox plateau), of the
#: shape reported by operando diffraction of Li-rich oxides (e.g. Liu, H. et al., Adv. Energy
#: Mater. 6, 1502143 (2016), the source of ΔV/V₀ in Liu, Zeng et al.; its numbers were not
#: available to us). V = a²c·sin(π/3) changes by −0.7 % from θ = 1 to 0.
LRTMO_LATTICE = {
    "theta": [0.0, 0.2, 0.35, 0.5, 0.65, 0.8, 1.0],
    "a": [2.836, 2.835, 2.832, 2.829, 2.836, 2.843, 2.851],
    "c": [14.290, 14.300, 14.350, 14.385, 14.330, 14.280, 14.232],
    "source": "lrtmo preset (assumed representative Li-rich a(theta), c(theta); see materials.LRTMO_LATTICE)",
}


def lrtmo(temperature=298.15) -> Material:
    """The Li-rich layered oxide Li1.2Mn0.56Ni0.16Co0.08O2 of Liu, Zeng et al. (Nat. Nanotechnol.
    2024), with θ = Li / 1.2 (θ = 1 is the pristine Li1.2).

    From the paper (Methods, "Particle charge-discharge simulation"):
    - D = 5e-13 m²/s at 298 K with an Arrhenius factor exp(1200 K (1/298 K − 1/T₂)) and the
      clamp T₂ = min(393.15, max(T, 223.15)) K (:func:`lrtmo_diffusivity`);
    - window 2.0–4.8 V; Butler–Volmer kinetics (symmetric here) deciding how a current step's flux
      spreads over the surface (``current_distribution="butler-volmer"``), against lithium-metal
      kinetics at the counter electrode (its overpotential in the reported voltage); a strain
      from the cell volume V = a²c·sin(π/3) (the lattice table is :data:`LRTMO_LATTICE`, assumed).
    Assumed (the paper's Supplementary Table 3 was not available to us):
    - 1C = 250 mA h / g (common for Li-rich oxides); theoretical 377.6 mA h / g for 1.2 Li;
    - molar mass 85.20 g/mol per formula unit, i.e. 71.00 g/mol per lithium (the ``molar_mass``
      field is per lithium so that θ = Li/1.2), density 4.25 g/cm³ → c_max = 59 860 mol/m³;
    - j0(θ) = 2·1 A/m²·sqrt(θ(1−θ)); the OCV a smooth assumed curve (3.05 V at θ = 0.97, 4.4 V at 0.05);
    - the lithium-metal exchange current density 10 A/m² (1 mA/cm², typical in carbonate
      electrolytes), referred to the particle's surface area, the electrolyte at C_ref;
    - mechanics (:data:`MECHANICAL_PRESETS`): E = 150 GPa, ν = 0.3 (typical of layered oxides:
      nanoindentation/DFT values for NMC lie at 140–200 GPa), strain from the lattice table.

    Parameters
    ----------
    temperature : float or str
        K (or a quantity such as ``"310K"``), inside the Arrhenius clamp 223.15–393.15 K.

    Returns
    -------
    Material

    Examples
    --------
    >>> m = lrtmo()
    >>> f"{m.diffusivity.value:.4g}", round(m.c_max), round(m.capacity_fraction, 4)   # m^2/s at 298.15 K
    ('5.01e-13', 59861, 0.6623)
    """
    formula_g_mol = 1.2 * 6.941 + 0.56 * 54.938 + 0.16 * 58.693 + 0.08 * 58.933 + 2 * 15.999
    per_li = formula_g_mol / 1.2
    d = lrtmo_diffusivity(temperature)
    from ..io.units import parse_quantity

    t = parse_quantity(temperature if isinstance(temperature, str) else float(temperature), "K", name="temperature")
    return Material(
        name="lrtmo",
        diffusivity=ConstantDiffusivity(d),
        alpha=1.0,
        ocv=FunctionOfTheta(_lrtmo_ocv, _lrtmo_docv, name="assumed Li-rich OCV"),
        exchange_current=symmetric_exchange_current(1.0),
        c_max=4.25e6 / per_li,
        molar_mass=per_li / 1000.0,
        density=4250.0,
        practical_capacity=250.0 * C_PER_KG_PER_MAH_PER_G,
        voltage_window=(2.0, 4.8),
        temperature=t,
        current_distribution="butler-volmer",
        counter_exchange_current=10.0,
        provenance={
            "paper": "Liu, Zeng et al., Nat. Nanotechnol. 2024 (Li1.2Mn0.56Ni0.16Co0.08O2): D = 5e-13 m^2/s "
            "exp(1200 K (1/298 K - 1/T2)), T2 clamped to 223.15-393.15 K; 2.0-4.8 V; V = a^2 c sin(pi/3) strain; "
            "Butler-Volmer current distribution at the particle surface against lithium-metal kinetics; the "
            "migration term needs the potential inside the particle: 'none' (one particle potential) by default, "
            "'ambipolar' (electroneutral, D doubled) as an option",
            "assumed": "1C = 250 mA h / g; density 4.25 g/cm^3; j0 = 2 A/m^2 sqrt(theta(1-theta)); OCV curve; "
            "lithium-metal i0 = 10 A/m^2 (1 mA/cm^2) on the particle's surface area, electrolyte at C_ref; "
            "lattice table a(theta), c(theta); E = 150 GPa, nu = 0.3 (Supplementary Table 3 not available)",
        },
    )


def _lrtmo_mechanics() -> dict:
    return {
        "youngs_modulus": 150e9,
        "poisson_ratio": 0.3,
        "c_max": lrtmo().c_max,
        "lattice": _lattice_table(LRTMO_LATTICE),
        "theta_ref": 1.0,
        "provenance": {"source": "lrtmo preset: E, nu and the lattice table assumed "
                       "(see lithmap.physics.materials.lrtmo)"},
    }


def _lattice_table(spec):
    from ..mechanics.strain import LatticeTable

    return LatticeTable(spec["theta"], spec["a"], spec["c"], source=spec["source"])


#: Mechanical constants of the presets that have them (SI; read by :mod:`lithmap.mechanics.strain`).
MECHANICAL_PRESETS: dict[str, Callable[[], dict]] = {"lrtmo": _lrtmo_mechanics}


#: The quantities of a :class:`Material` that may be given as text, with their SI units.
_QUANTITIES = {"c_max": "mol/m^3", "molar_mass": "kg/mol", "density": "kg/m^3", "practical_capacity": "C/kg",
               "temperature": "K"}

PRESETS: dict[str, Callable[[], Material]] = {"nmc811": nmc811, "lrtmo": lrtmo}


def get_material(name: str) -> Material:
    """The preset material ``name`` (see :data:`PRESETS`).

    Parameters
    ----------
    name : str
        ``"nmc811"`` or ``"lrtmo"`` (case-insensitive).

    Returns
    -------
    Material

    Examples
    --------
    >>> get_material("NMC811").name
    'nmc811'
    >>> get_material("unobtainium")
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: material='unobtainium' is invalid; expected one of ['lrtmo', 'nmc811']
    """
    key = name.strip().lower()
    if key not in PRESETS:
        raise LithmapError(f"material={name!r} is invalid; expected one of {sorted(PRESETS)}")
    return PRESETS[key]()


def describe_materials() -> str:
    """Every material preset with its numbers and their sources, as ``lithmap materials`` prints.

    Parameters
    ----------
    None

    Returns
    -------
    str
        One block per preset (:meth:`Material.describe`).

    Examples
    --------
    >>> text = describe_materials()
    >>> "nmc811" in text and "Xu, Merryweather et al., Joule 2022" in text
    True
    """
    return "\n".join(factory().describe() for factory in PRESETS.values())


def plain_material(diffusivity: Diffusivity, name: str = "custom") -> Material:
    """A material defined by its D(θ) alone (no OCV, no kinetics, 1C = Δθ of 1 per hour)."""
    return Material(name=name, diffusivity=diffusivity)
