"""X-ray absorption spectra: readers and pre-processing for linear-combination fitting.

Readers (every energy in eV, strictly increasing, as an ``energy`` coordinate with ``units``):

- :func:`read_xdi`: XDI files (header ``# Column.N: name units``); ``mu`` from a ``mutrans`` /
  ``mu`` / ``xmu`` column or ln(i0/itrans), and the reference channel ``mu_ref`` =
  ln(itrans/irefer) when ``irefer`` is recorded;
- :func:`read_prj`: one group of an Athena project (gzipped or plain Perl ``Data::Dumper``
  text), with its stored energy shift ``bkg_eshift`` applied;
- :func:`read_text_spectrum`: two columns (energy, mu), ``#`` comments skipped;
- :func:`read_tiff_stack`: an image stack (energy, y, x) and a list of energies; with ``i0``
  the stack is transmitted intensity and becomes optical density −ln(I/I0);
- :func:`read_absorbance`: NetCDF/HDF5 with a variable ``absorbance`` on (energy, y, x) or
  (energy, z, y, x) and an ``energy`` coordinate;
- :func:`read_spectra`: chooses one of these by the file's suffix and returns a Dataset whose
  variable ``mu`` is the absorption signal (energy first, then any spatial dims).

Pre-processing:

- :func:`normalize`: pre-edge line and post-edge polynomial extrapolated to e0 give the edge
  step; vectorised over any number of spectra (pixels);
- :func:`align`: energy shift between two reference-channel spectra (least squares of the
  derivatives over the shift);
- :func:`select_window`, :func:`interpolate_standards`: the fitting window and the standards on
  the sample's energy grid, never extrapolated.
"""

from __future__ import annotations

import gzip
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError

SPECTRUM_SUFFIXES = (".xdi", ".prj", ".txt", ".dat", ".csv", ".xmu", ".nor")
STACK_SUFFIXES = (".tif", ".tiff")
ARRAY_SUFFIXES = (".nc", ".nc4", ".cdf", ".h5", ".hdf5", ".hdf", ".he5")

_MU_COLUMNS = ("mutrans", "mu", "xmu", "mu_trans", "mutrans_norm")
_REF_MU_COLUMNS = ("murefer", "mu_ref", "mu_refer", "mureference")
_ENERGY_UNITS = {"ev": 1.0, "kev": 1000.0}

# ---------------------------------------------------------------------------------------------
# small checks shared by the readers


def _require_file(path, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise LithmapError(f"{what} {str(p)!r} does not exist")
    return p


def check_energies(energy, source: str) -> np.ndarray:
    """Return ``energy`` as a float array after checking it is 1-D, finite and strictly increasing.

    Raises :class:`LithmapError` naming ``source`` and the first offending index and values.
    """
    e = np.asarray(energy, dtype=float)
    if e.ndim != 1 or e.size < 2:
        raise LithmapError(f"{source}: expected at least 2 energies in a 1-D list, got shape {e.shape}")
    bad = np.flatnonzero(~np.isfinite(e))
    if bad.size:
        raise LithmapError(f"{source}: energy at index {bad[0]} is {e[bad[0]]!r}; energies must be finite numbers")
    step = np.diff(e)
    bad = np.flatnonzero(step <= 0)
    if bad.size:
        i = int(bad[0])
        raise LithmapError(f"{source}: energies are not strictly increasing at index {i + 1} "
                           f"({e[i]:.6g} eV then {e[i + 1]:.6g} eV)")
    return e


def _energy_coord(e: np.ndarray) -> tuple:
    return ("energy", e, {"units": "eV", "long_name": "X-ray energy"})


def _energy_scale(units: str | None, source: str) -> float:
    if not units:
        return 1.0
    u = units.strip().strip("[]()").lower()
    if u in _ENERGY_UNITS:
        return _ENERGY_UNITS[u]
    raise LithmapError(f"{source}: energy units {units!r} are not supported; expected eV or keV")


def _log_ratio(num, den, source: str, what: str) -> np.ndarray:
    num = np.asarray(num, float)
    den = np.asarray(den, float)
    bad = np.flatnonzero(~((num > 0) & (den > 0)))
    if bad.size:
        i = int(bad[0])
        raise LithmapError(f"{source}: {what} needs positive intensities; row {i} has {num[i]!r} and {den[i]!r}")
    return np.log(num / den)


# ---------------------------------------------------------------------------------------------
# XDI


def _parse_xdi_header(lines: list[str]) -> tuple[dict, dict, list[str] | None]:
    """Return ``(fields, columns, label_line)`` from the comment lines of an XDI file."""
    fields: dict[str, str] = {}
    columns: dict[int, tuple[str, str]] = {}
    labels = None
    after_rule = False
    for line in lines:
        body = line.lstrip("#").strip()
        m = re.match(r"^([A-Za-z_][\w]*)\.([\w]+)\s*:\s*(.*)$", body)
        if m and not after_rule:
            family, key, value = m.group(1), m.group(2), m.group(3).strip()
            fields[f"{family}.{key}".lower()] = value
            if family.lower() == "column" and key.isdigit():
                parts = value.split(None, 1)
                if parts:
                    unit = parts[1].strip().strip("[]()") if len(parts) > 1 else ""
                    columns[int(key)] = (parts[0].lower(), unit)
            continue
        if body.startswith("---"):
            after_rule = True
            continue
        if after_rule and body:
            labels = [t.lower() for t in body.split()]
    return fields, columns, labels


def _read_text_table(p: Path, what: str) -> tuple[list[str], np.ndarray]:
    """Comment lines (starting with '#') and the numeric rows of a text file."""
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise LithmapError(f"{what} {str(p)!r} cannot be read ({exc.strerror})") from None
    comments, rows = [], []
    for k, line in enumerate(text.splitlines()):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            comments.append(s)
            continue
        try:
            rows.append([float(t) for t in re.split(r"[,;\s]+", s) if t])
        except ValueError:
            raise LithmapError(f"{what} {str(p)!r}: line {k + 1} is not numbers: {s[:60]!r}") from None
    if not rows:
        raise LithmapError(f"{what} {str(p)!r} holds no data rows")
    width = len(rows[0])
    for k, r in enumerate(rows):
        if len(r) != width:
            raise LithmapError(f"{what} {str(p)!r}: data row {k + 1} has {len(r)} columns, the first has {width}")
    return comments, np.asarray(rows, dtype=float)


def read_xdi(path) -> xr.Dataset:
    """Read an XDI spectrum.

    Parameters
    ----------
    path : str or Path
        XDI file. Column names come from the ``# Column.N: name units`` header lines (or the
        label line after ``#----``).

    Returns
    -------
    xarray.Dataset
        ``mu`` (energy): a ``mutrans``/``mu``/``xmu`` column if present, else ln(i0/itrans);
        ``mu_ref`` (energy): ln(itrans/irefer) when an ``irefer`` column exists (the reference
        foil, used by :func:`align`); every raw column as a variable; attrs ``element``,
        ``edge``, ``sample_name`` (when recorded) and ``source``.

    Examples
    --------
    >>> ds = read_xdi("tests/data/xanes-standards/MnO_rt_01.xdi")  # doctest: +SKIP
    >>> float(ds.energy[0]), ds.attrs["element"]  # doctest: +SKIP
    (6520.003, 'Mn')
    """
    p = _require_file(path, "XDI file")
    comments, data = _read_text_table(p, "XDI file")
    fields, columns, labels = _parse_xdi_header(comments)
    ncol = data.shape[1]
    if columns:
        names = [columns.get(i + 1, (f"column_{i + 1}", ""))[0] for i in range(ncol)]
        units = [columns.get(i + 1, ("", ""))[1] for i in range(ncol)]
    elif labels and len(labels) == ncol:
        names, units = labels, [""] * ncol
    else:
        raise LithmapError(f"XDI file {str(p)!r} names no columns (no '# Column.N:' lines)")
    if len(set(names)) != len(names):
        raise LithmapError(f"XDI file {str(p)!r} has repeated column names {names}")
    if "energy" not in names:
        raise LithmapError(f"XDI file {str(p)!r} has no 'energy' column (columns: {', '.join(names)})")
    col = {n: data[:, i] for i, n in enumerate(names)}
    ie = names.index("energy")
    energy = check_energies(col["energy"] * _energy_scale(units[ie], f"XDI file {str(p)!r}"), f"XDI file {str(p)!r}")
    src = f"XDI file {str(p)!r}"
    mu_name = next((n for n in _MU_COLUMNS if n in col), None)
    if mu_name is not None:
        mu, how = col[mu_name], f"column {mu_name}"
    elif "i0" in col and "itrans" in col:
        mu, how = _log_ratio(col["i0"], col["itrans"], src, "mu = ln(i0/itrans)"), "ln(i0/itrans)"
    elif "i0" in col and "ifluor" in col:
        mu, how = col["ifluor"] / col["i0"], "ifluor/i0"
    else:
        raise LithmapError(f"{src} has neither a mu column ({'/'.join(_MU_COLUMNS[:3])}) nor i0 and itrans "
                           f"(columns: {', '.join(names)})")
    data_vars = {"mu": ("energy", np.asarray(mu, float), {"long_name": f"absorption mu*t ({how})", "units": "1"})}
    ref_name = next((n for n in _REF_MU_COLUMNS if n in col), None)
    if ref_name is not None:
        data_vars["mu_ref"] = ("energy", col[ref_name], {"long_name": f"reference channel ({ref_name})", "units": "1"})
    elif "itrans" in col and "irefer" in col:
        data_vars["mu_ref"] = ("energy", _log_ratio(col["itrans"], col["irefer"], src, "mu_ref = ln(itrans/irefer)"),
                               {"long_name": "reference channel ln(itrans/irefer)", "units": "1"})
    for n, v in col.items():
        if n != "energy" and n not in data_vars:
            data_vars[n] = ("energy", v, {"long_name": f"raw column {n}"})
    attrs = {"source": str(p), "format": "XDI"}
    for key, name in (("element.symbol", "element"), ("element.edge", "edge"), ("sample.name", "sample_name"),
                      ("sample.formula", "sample_formula"), ("beamline.name", "beamline")):
        if key in fields:
            attrs[name] = fields[key]
    return xr.Dataset(data_vars, coords={"energy": _energy_coord(energy)}, attrs=attrs)


# ---------------------------------------------------------------------------------------------
# Athena project


_PERL_ITEM = re.compile(r"'((?:[^'\\]|\\.)*)'"  # 'single-quoted' (Data::Dumper's strings)
                        r"|\"((?:[^\"\\]|\\.)*)\""  # "double-quoted"
                        r"|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"  # bare number
                        r"|(undef)")


def _perl_list(body: str) -> list:
    out = []
    for m in _PERL_ITEM.finditer(body):
        s1, s2, num, undef = m.groups()
        if undef:
            out.append(None)
        elif num is not None:
            out.append(num)
        else:
            s = s1 if s1 is not None else s2
            out.append(re.sub(r"\\(.)", r"\1", s))
    return out


def _prj_groups(text: str, source: str) -> list[dict]:
    """Parse the records of an Athena project: ``[{'id', 'args', 'arrays'}, ...]``."""
    starts = [m for m in re.finditer(r"\$old_group\s*=\s*'((?:[^'\\]|\\.)*)'\s*;", text)]
    groups = []
    for k, m in enumerate(starts):
        end = starts[k + 1].start() if k + 1 < len(starts) else len(text)
        chunk = text[m.end():end]
        arrays, args = {}, {}
        for a in re.finditer(r"@(\w+)\s*=\s*\((.*?)\)\s*;", chunk, flags=re.DOTALL):
            name, items = a.group(1), _perl_list(a.group(2))
            if name == "args":
                args = {str(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}
            else:
                arrays[name] = items
        groups.append({"id": m.group(1), "args": args, "arrays": arrays})
    if not groups:
        raise LithmapError(f"{source} holds no Athena groups ($old_group records)")
    return groups


def read_prj(path, group: str | None = None) -> xr.Dataset:
    """Read one group of an Athena project file, with its energy shift applied.

    Parameters
    ----------
    path : str or Path
        ``.prj`` file (gzipped, as Athena writes it, or plain text). ``"file.prj:NAME"`` selects
        the group NAME, like ``group``.
    group : str, optional
        Group label (Athena's ``label``) or internal id (``$old_group``); default the first group.

    Returns
    -------
    xarray.Dataset
        ``mu`` (energy) from the group's ``@y``, ``i0`` when stored; the energy is ``@x`` plus
        the stored ``bkg_eshift`` (attr ``energy_shift``, eV); attrs ``group``, ``e0`` (the
        stored ``bkg_e0`` shifted the same way, when present), ``source``.
    """
    path, group = split_prj_group(path, group)
    p = _require_file(path, "Athena project")
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise LithmapError(f"Athena project {str(p)!r} is a damaged gzip file ({exc})") from None
    text = raw.decode("utf-8", errors="replace")
    src = f"Athena project {str(p)!r}"
    groups = _prj_groups(text, src)

    def label(g):
        return str(g["args"].get("label") or g["id"])

    if group is None:
        chosen = groups[0]
    else:
        matches = [g for g in groups if group in (label(g), g["id"])]
        matches = matches or [g for g in groups if group.lower() in (label(g).lower(), g["id"].lower())]
        if not matches:
            raise LithmapError(f"{src} has no group {group!r}; groups: {', '.join(label(g) for g in groups)}")
        chosen = matches[0]
    name = label(chosen)
    where = f"{src} group {name!r}"
    arrays, args = chosen["arrays"], chosen["args"]
    datatype = str(args.get("datatype", "xmu")).lower()
    if datatype not in ("xmu", "xanes", "norm", "xmudat"):
        raise LithmapError(f"{where} holds {datatype!r} data, not mu(E)")
    if not arrays.get("x") or not arrays.get("y"):
        raise LithmapError(f"{where} has no @x/@y arrays")
    try:
        x = np.array([float(v) for v in arrays["x"]])
        y = np.array([float(v) for v in arrays["y"]])
        eshift = float(args.get("bkg_eshift") or 0.0)
    except (TypeError, ValueError) as exc:
        raise LithmapError(f"{where} has a non-numeric value in @x, @y or bkg_eshift ({exc})") from None
    if x.size != y.size:
        raise LithmapError(f"{where} has {x.size} energies in @x but {y.size} values in @y")
    energy = check_energies(x + eshift, where)
    data_vars = {"mu": ("energy", y, {"long_name": "absorption mu*t (Athena @y)", "units": "1"})}
    i0 = arrays.get("i0")
    if i0:
        try:
            i0a = np.array([float(v) for v in i0])
        except (TypeError, ValueError):
            i0a = None
        if i0a is not None and i0a.size == x.size:
            data_vars["i0"] = ("energy", i0a, {"long_name": "incident intensity"})
    attrs = {"source": str(p), "format": "Athena project", "group": name, "energy_shift": eshift}
    if args.get("bkg_e0") not in (None, ""):
        try:
            attrs["e0"] = float(args["bkg_e0"]) + eshift
        except ValueError:
            pass
    return xr.Dataset(data_vars, coords={"energy": _energy_coord(energy)}, attrs=attrs)


def split_prj_group(path, group: str | None = None) -> tuple[str, str | None]:
    """Split ``"file.prj:NAME"`` into ``("file.prj", "NAME")`` (``group`` wins when given)."""
    s = str(path)
    m = re.match(r"^(.*\.prj):([^\\/]+)$", s, flags=re.IGNORECASE)
    if m and not Path(s).exists():
        return m.group(1), group if group is not None else m.group(2)
    return s, group


# ---------------------------------------------------------------------------------------------
# plain text, TIFF stacks, NetCDF/HDF5


def read_text_spectrum(path) -> xr.Dataset:
    """Read a two-column text spectrum: energy (eV) and mu; ``#`` lines are comments.

    Extra columns are ignored. Returns a Dataset with ``mu`` (energy) and attr ``source``.
    """
    p = _require_file(path, "spectrum file")
    _, data = _read_text_table(p, "spectrum file")
    if data.shape[1] < 2:
        raise LithmapError(f"spectrum file {str(p)!r} has {data.shape[1]} column; expected energy and mu")
    energy = check_energies(data[:, 0], f"spectrum file {str(p)!r}")
    return xr.Dataset({"mu": ("energy", data[:, 1], {"long_name": "absorption mu*t", "units": "1"})},
                      coords={"energy": _energy_coord(energy)}, attrs={"source": str(p), "format": "text"})


def read_energies(energies, n: int | None = None, source: str = "energies") -> np.ndarray:
    """Energies in eV from a text file (one per line, ``#`` comments) or an array; checked to
    be strictly increasing and, when ``n`` is given, ``n`` long."""
    if isinstance(energies, (str, Path)):
        p = _require_file(energies, "energy list")
        _, data = _read_text_table(p, "energy list")
        if data.shape[1] != 1:
            raise LithmapError(f"energy list {str(p)!r} has {data.shape[1]} columns; expected one energy (eV) per line")
        e, source = data[:, 0], f"energy list {str(p)!r}"
    else:
        e = np.asarray(energies, float).ravel()
    e = check_energies(e, source)
    if n is not None and e.size != n:
        raise LithmapError(f"{source} has {e.size} energies but the stack has {n} images")
    return e


def _spatial_coords(shape) -> dict:
    names = ("y", "x") if len(shape) == 2 else ("z", "y", "x")
    return {d: (d, np.arange(s), {"units": "pixel"}) for d, s in zip(names, shape)}


def read_tiff_stack(path, energies, *, i0=None) -> xr.DataArray:
    """Read an image stack (energy, y, x) with one energy (eV) per image.

    Parameters
    ----------
    path : str or Path
        Multi-page TIFF; its pages are the energies in order.
    energies : str, Path or array
        Text file with one energy in eV per line (or the energies themselves).
    i0 : float, array, str or Path, optional
        Incident intensity: a scalar per energy (shape (n_energy,), or a one-column text file) or
        a flat-field stack of the same shape (array or TIFF). Given ``i0``, the stack holds
        transmitted intensity I and the result is the optical density −ln(I/I0); without it
        the stack is taken to hold absorbance already.

    Returns
    -------
    xarray.DataArray
        ``absorbance`` on (energy, y, x) with the energies in eV.
    """
    import tifffile

    p = _require_file(path, "TIFF stack")
    try:
        stack = np.asarray(tifffile.imread(p))
    except Exception as exc:
        raise LithmapError(f"TIFF stack {str(p)!r} is not readable ({type(exc).__name__}: {exc})") from None
    if stack.ndim == 2:
        raise LithmapError(f"TIFF stack {str(p)!r} holds a single image {stack.shape}; expected (energy, y, x)")
    if stack.ndim != 3:
        raise LithmapError(f"TIFF stack {str(p)!r} has shape {stack.shape}; expected (energy, y, x)")
    e = read_energies(energies, stack.shape[0], source=f"energies for {str(p)!r}")
    stack = stack.astype(np.float64 if stack.dtype == np.float64 else np.float32, copy=False)
    long_name, how = "absorbance", "as stored"
    if i0 is not None:
        stack = optical_density(stack, i0, source=str(p))
        long_name, how = "optical density -ln(I/I0)", "-ln(I/I0)"
    return xr.DataArray(stack, dims=("energy", "y", "x"),
                        coords={"energy": _energy_coord(e), **_spatial_coords(stack.shape[1:])},
                        name="absorbance", attrs={"units": "1", "long_name": long_name, "source": str(p),
                                                  "conversion": how})


def optical_density(intensity, i0, *, source: str = "stack") -> np.ndarray:
    """Optical density −ln(I/I0) of a stack (energy, ...); ``i0`` is one value per energy
    (array, or one-column text file) or a flat-field stack of the same shape (array or TIFF).
    Pixels where I or I0 is not positive become NaN."""
    s = np.asarray(intensity)
    if isinstance(i0, (str, Path)):
        q = _require_file(i0, "I0 file")
        if q.suffix.lower() in STACK_SUFFIXES:
            import tifffile

            ref = np.asarray(tifffile.imread(q), float)
        else:
            _, data = _read_text_table(q, "I0 file")
            if data.shape[1] != 1:
                raise LithmapError(f"I0 file {str(q)!r} has {data.shape[1]} columns; expected one I0 per line")
            ref = data[:, 0]
    else:
        ref = np.asarray(i0, float)
    if ref.ndim == 0:
        ref = np.full(s.shape[0], float(ref))
    if ref.shape == (s.shape[0],):
        ref = ref.reshape((-1,) + (1,) * (s.ndim - 1))
    elif ref.shape != s.shape:
        raise LithmapError(f"I0 for {source} has shape {ref.shape}; expected ({s.shape[0]},) (one per energy) "
                           f"or a flat-field stack {s.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        od = -np.log(s / ref)
    od[~np.isfinite(od)] = np.nan
    return od.astype(s.dtype if s.dtype.kind == "f" else np.float64, copy=False)


def read_absorbance(path) -> xr.DataArray:
    """Read a NetCDF/HDF5 file with a variable ``absorbance`` on (energy, y, x) or
    (energy, z, y, x) and an ``energy`` coordinate (eV, or keV when its ``units`` say so).

    Plain HDF5 files (no NetCDF dimensions) need datasets ``absorbance`` and ``energy``; the
    first axis of ``absorbance`` is the energy. A NeXus file instead gives its stack as the
    ``signal`` of an NXdata group, the first of its ``axes`` being the energy (eV or keV).
    """
    p = _require_file(path, "absorbance file")
    src = f"absorbance file {str(p)!r}"
    da = None
    try:
        with xr.open_dataset(p, engine="h5netcdf", phony_dims="access") as ds:
            if "absorbance" in ds.variables and "energy" in ds["absorbance"].dims:
                da = ds["absorbance"].load()
    except LithmapError:
        raise
    except Exception:
        da = None
    if da is None:  # plain HDF5: datasets without NetCDF dimensions
        da = _read_absorbance_h5py(p, src)
    if da.ndim not in (3, 4):
        raise LithmapError(f"{src}: 'absorbance' has dims {da.dims}; expected (energy, y, x) or (energy, z, y, x)")
    if "energy" not in da.coords:
        raise LithmapError(f"{src} has no 'energy' coordinate for 'absorbance'")
    scale = _energy_scale(da.coords["energy"].attrs.get("units"), src)
    e = check_energies(da.coords["energy"].values * scale, src)
    da = da.transpose("energy", ...).assign_coords(energy=_energy_coord(e))
    da.name = "absorbance"
    da.attrs = {"units": "1", "long_name": da.attrs.get("long_name", "absorbance"), "source": str(p)}
    return da


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _nexus_signal(f):
    """``(signal, energy, units)`` of the first NeXus NXdata group (depth first) whose ``signal``
    attribute names a 3D/4D dataset and whose first axis (``axes`` attribute, or a dataset named
    energy) gives the photon energies; None when there is none."""
    found = []

    def visit(name, obj):
        if found or not hasattr(obj, "keys") or _text(obj.attrs.get("NX_class", "")) != "NXdata":
            return
        sig = obj.attrs.get("signal")
        if sig is None or _text(sig) not in obj or obj[_text(sig)].ndim not in (3, 4):
            return
        axes = obj.attrs.get("axes")
        first = _text(axes[0] if axes is not None and not isinstance(axes, (str, bytes)) else axes) if axes is not None \
            else "energy"
        first = first.split(":")[0]
        if first not in obj:
            return
        energy = obj[first]
        found.append((obj[_text(sig)][()], energy[()], _text(energy.attrs.get("units", "eV"))))

    f.visititems(visit)
    return found[0] if found else None


def _read_absorbance_h5py(p: Path, src: str) -> xr.DataArray:
    import h5py

    try:
        with h5py.File(p, "r") as f:
            if "absorbance" not in f:
                nx = _nexus_signal(f)
                if nx is None:
                    raise LithmapError(f"{src} has no dataset 'absorbance' and no NeXus NXdata group with a signal "
                                       f"(top level: {', '.join(f.keys())})")
                a, e, units = nx
            else:
                a = f["absorbance"][()]
                if "energy" in f:
                    e = f["energy"][()]
                    units = f["energy"].attrs.get("units", "eV")
                elif "energy" in f["absorbance"].attrs:
                    e, units = f["absorbance"].attrs["energy"], "eV"
                else:
                    raise LithmapError(f"{src} has no 'energy' dataset beside 'absorbance'")
    except LithmapError:
        raise
    except Exception as exc:
        raise LithmapError(f"{src} is not a readable NetCDF/HDF5 file ({type(exc).__name__}: {exc})") from None
    if isinstance(units, bytes):
        units = units.decode()
    a = np.asarray(a)
    if a.ndim not in (3, 4):
        raise LithmapError(f"{src}: 'absorbance' has shape {a.shape}; expected (energy, y, x) or (energy, z, y, x)")
    e = np.asarray(e, float).ravel()
    if e.size != a.shape[0]:
        raise LithmapError(f"{src} has {e.size} energies but 'absorbance' has {a.shape[0]} along its first axis")
    e = e * _energy_scale(str(units), src)
    dims = ("energy",) + (("y", "x") if a.ndim == 3 else ("z", "y", "x"))
    return xr.DataArray(a, dims=dims, coords={"energy": ("energy", e, {"units": "eV"}), **_spatial_coords(a.shape[1:])})


def read_spectra(path, energies=None, *, i0=None) -> xr.Dataset:
    """Read spectra from any supported file, chosen by suffix.

    Parameters
    ----------
    path : str or Path
        ``.xdi`` (XDI), ``.prj`` or ``file.prj:GROUP`` (Athena), ``.txt/.dat/.csv/.xmu/.nor``
        (two columns), ``.tif/.tiff`` (stack, needs ``energies``), ``.nc/.h5/.hdf5``
        (variable ``absorbance``).
    energies : str, Path or array, optional
        The stack's energies (TIFF only): a text file with one energy in eV per line.
    i0 : optional
        Incident intensity for a TIFF stack of transmitted intensity (see :func:`read_tiff_stack`).

    Returns
    -------
    xarray.Dataset
        ``mu``: the absorption signal, dims ``energy`` first and then the spatial dims of an
        image (none for a spectrum file); ``mu_ref`` when a reference channel was recorded;
        attrs ``source`` and ``format``.
    """
    spath, group = split_prj_group(path)
    p = Path(spath)
    suffix = p.suffix.lower()
    known = SPECTRUM_SUFFIXES + STACK_SUFFIXES + ARRAY_SUFFIXES
    if suffix not in known:
        raise LithmapError(f"spectra file {str(path)!r} has an unknown format {suffix or '(no suffix)'!r}; "
                           f"expected one of {', '.join(known)}")
    if not p.is_file():
        raise LithmapError(f"spectra file {str(p)!r} does not exist")
    if suffix in STACK_SUFFIXES:
        if energies is None:
            raise LithmapError(f"TIFF stack {str(p)!r} needs its energies (a text file with one energy in eV per line)")
        da = read_tiff_stack(p, energies, i0=i0)
        return xr.Dataset({"mu": da}, attrs={"source": str(p), "format": "TIFF stack"})
    if energies is not None or i0 is not None:
        raise LithmapError(f"energies/i0 apply to TIFF stacks only, not to {str(p)!r}")
    if suffix in ARRAY_SUFFIXES:
        da = read_absorbance(p)
        return xr.Dataset({"mu": da}, attrs={"source": str(p), "format": "NetCDF/HDF5 absorbance"})
    if suffix == ".xdi":
        return read_xdi(p)
    if suffix == ".prj":
        return read_prj(p, group)
    return read_text_spectrum(p)


# ---------------------------------------------------------------------------------------------
# pre-processing


def _as_energy_last(mu, energy, axis):
    """``(array (N, n), energy (n,), restore)`` for an array with the energy on ``axis``."""
    a = np.asarray(mu)
    if a.ndim == 0:
        raise LithmapError("mu is a scalar; expected spectra with an energy axis")
    axis = axis % a.ndim
    e = check_energies(energy, "energy")
    if a.shape[axis] != e.size:
        raise LithmapError(f"mu has {a.shape[axis]} values along axis {axis} but there are {e.size} energies")
    moved = np.moveaxis(a, axis, -1)
    lead = moved.shape[:-1]
    flat = moved.reshape(-1, e.size).astype(np.float64, copy=False)

    def restore(x2):
        return np.moveaxis(x2.reshape(lead + (e.size,)), -1, axis)

    return flat, e, lead, restore


def find_e0(mu, energy, *, axis: int = -1, smooth: float = 2.0) -> np.ndarray:
    """Edge energy (eV) of each spectrum: where dmu/dE, smoothed by a Gaussian of ``smooth`` eV
    (standard deviation), is largest; the outermost 5 % of points at either end (where glitches
    sit) are not considered. The smoothing keeps e0 on the main edge when a shoulder or the
    noise gives a second, nearly as steep, rise. NaN for spectra with NaN."""
    flat, e, lead, _ = _as_energy_last(mu, energy, axis)
    return _find_e0(flat, e, smooth).reshape(lead)


def _find_e0(flat, e, smooth=2.0):
    n = e.size
    d = np.gradient(flat, e, axis=1)
    if smooth and smooth > 0:
        K = np.exp(-0.5 * ((e[:, None] - e[None, :]) / smooth) ** 2)
        K *= np.gradient(e)[None, :]  # quadrature weights on a non-uniform grid
        K /= K.sum(axis=1, keepdims=True)
        d = d @ K.T
    m = max(1, n // 20) if n >= 10 else 0
    core = d[:, m:n - m] if m else d
    bad = ~np.isfinite(core).all(axis=1)
    idx = np.argmax(np.where(np.isfinite(core), core, -np.inf), axis=1) + m
    e0 = e[idx].astype(float)
    e0[bad] = np.nan
    return e0


def normalize(mu, energy=None, *, e0=None, pre=(-60.0, -15.0), norm=(15.0, 200.0), norm_order: int = 1,
              axis: int = -1, return_edge: bool = False):
    """Edge-step normalisation of absorption spectra, vectorised over any leading (pixel) dims.

    A line is fitted to mu over ``e0 + pre`` and a polynomial of order ``norm_order`` to
    mu − pre-edge over ``e0 + norm``; the edge step is that polynomial at ``e0`` and the result is
    (mu − pre-edge line) / edge step: 0 before the edge and about 1 after it. The ranges are
    clipped to the data; each needs at least ``order + 1`` energies.

    Parameters
    ----------
    mu : array_like or xarray.DataArray
        Spectra with the energy on ``axis`` (a DataArray uses its ``energy`` dim and coordinate).
    energy : array_like, optional
        Energies in eV (not needed for a DataArray).
    e0 : float or array_like, optional
        Edge energy in eV, one for all or one per spectrum (shape of ``mu`` without the energy
        axis). Default: per spectrum, the largest (smoothed) derivative (:func:`find_e0`). For
        noisy maps pass a common e0 (e.g. that of the mean spectrum).
    pre, norm : (float, float)
        Pre-edge and normalisation ranges, eV relative to e0. The defaults suit XANES scans
        that start 20–60 eV below the edge and end 80–200 eV above it: the pre-edge line stops
        15 eV below e0 (before pre-edge peaks), the post-edge line averages the oscillations
        from 15 eV above e0 to the end of the data.
    norm_order : {0, 1, 2}
        Order of the post-edge polynomial (0 constant, 1 line, 2 quadratic).
    axis : int
        Energy axis of an ndarray ``mu``.
    return_edge : bool
        Also return ``e0`` and ``edge_step`` (shape of ``mu`` without the energy axis).

    Returns
    -------
    normalised : ndarray or DataArray
        Same shape as ``mu``. Spectra whose edge step is not positive (no edge: background
        pixels; or below 1e-9 of the spectrum's magnitude) are NaN.
    e0, edge_step : ndarray or DataArray
        Only with ``return_edge``.

    Examples
    --------
    >>> e = np.linspace(6500, 6700, 201)
    >>> mu = 0.2 - 1e-4 * (e - 6500) + 0.8 / (1 + np.exp(-(e - 6540) / 1.0))
    >>> out = normalize(mu, e, e0=6540.0)
    >>> round(float(out[0]), 3), round(float(out[-1]), 3)
    (0.0, 1.0)
    """
    if isinstance(mu, xr.DataArray):
        if "energy" not in mu.dims:
            raise LithmapError(f"mu has dims {mu.dims}; expected an 'energy' dim")
        ax = mu.dims.index("energy")
        e0v = e0.values if isinstance(e0, xr.DataArray) else e0
        out = normalize(mu.values, mu["energy"].values, e0=e0v, pre=pre, norm=norm, norm_order=norm_order,
                        axis=ax, return_edge=return_edge)
        res, extra = (out[0], out[1:]) if return_edge else (out, ())
        da = mu.copy(data=res)
        da.attrs = {**mu.attrs, "long_name": "normalised absorption (edge step = 1)", "units": "1"}
        if not return_edge:
            return da
        other = [d for d in mu.dims if d != "energy"]
        coords = {k: v for k, v in mu.coords.items() if "energy" not in v.dims}
        e0_da = xr.DataArray(extra[0], dims=other, coords=coords, attrs={"units": "eV", "long_name": "edge energy e0"})
        st_da = xr.DataArray(extra[1], dims=other, coords=coords, attrs={"units": "1", "long_name": "edge step"})
        return da, e0_da, st_da
    if energy is None:
        raise LithmapError("normalize needs the energies (eV) for an array of spectra")
    if norm_order not in (0, 1, 2):
        raise LithmapError(f"norm_order={norm_order!r} is invalid; expected 0, 1 or 2")
    for name, rng in (("pre", pre), ("norm", norm)):
        if len(rng) != 2 or not rng[0] < rng[1]:
            raise LithmapError(f"{name}={tuple(rng)!r} is invalid; expected (lo, hi) in eV relative to e0 with lo < hi")
    flat, e, lead, restore = _as_energy_last(mu, energy, axis)
    npix = flat.shape[0]
    if e0 is None:
        e0v = _find_e0(flat, e)
    else:
        e0v = np.broadcast_to(np.asarray(e0, float), lead).reshape(-1) if np.ndim(e0) else np.full(npix, float(e0))
    xc, xs = 0.5 * (e[0] + e[-1]), 0.5 * (e[-1] - e[0])
    x = (e - xc) / xs
    ok = np.isfinite(e0v)
    zz = np.where(ok, e0v, e[e.size // 2])
    # the fitted points of each range are a slice [lo, hi) of the grid: spectra sharing the
    # slices share the design matrices (one group for a common e0, at most a few otherwise)
    bounds = []
    for name, rng, order in (("pre", pre, 1), ("norm", norm, norm_order)):
        lo = np.searchsorted(e, zz + rng[0], side="left")
        hi = np.searchsorted(e, zz + rng[1], side="right")
        short = np.flatnonzero(ok & (hi - lo < order + 1))
        if short.size:
            i = int(short[0])
            raise LithmapError(
                f"{name} range e0{rng[0]:+g}..e0{rng[1]:+g} eV holds {int(hi[i] - lo[i])} energies for spectrum {i} "
                f"(e0 {zz[i]:.6g} eV, data {e[0]:.6g}-{e[-1]:.6g} eV); it needs {order + 1}; widen {name}=")
        bounds += [lo, hi]
    keys, inverse = np.unique(np.stack(bounds, axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    out = np.empty_like(flat)
    steps = np.empty(npix)
    V1 = np.vander(x, 2, increasing=True)
    Vn = np.vander(x, norm_order + 1, increasing=True)
    for g, (plo, phi, nlo, nhi) in enumerate(keys):
        rows = slice(None) if keys.shape[0] == 1 else np.flatnonzero(inverse == g)
        y = flat[rows]
        cpre = y[:, plo:phi] @ np.linalg.pinv(V1[plo:phi]).T  # (m, 2)
        sub = y - cpre @ V1.T
        cpost = sub[:, nlo:nhi] @ np.linalg.pinv(Vn[nlo:nhi]).T  # (m, order + 1)
        xz = (zz[rows] - xc) / xs
        step = np.einsum("ij,ij->i", cpost, np.vander(np.atleast_1d(xz), norm_order + 1, increasing=True))
        scale = np.abs(np.where(np.isfinite(y), y, 0.0)).max(axis=1)
        edge = ok[rows] & np.isfinite(step) & (step > 1e-9 * scale)  # else flat: no edge here
        step = np.where(edge, step, np.nan)
        out[rows] = sub / step[:, None]
        steps[rows] = step
    res = restore(out)
    if not return_edge:
        return res
    return res, e0v.reshape(lead), steps.reshape(lead)


def edge_energy(element: str | None, edge: str | None = "K") -> float | None:
    """Tabulated absorption-edge energy (eV) from xraydb, or None when unknown."""
    if not element:
        return None
    try:
        import xraydb

        return float(xraydb.xray_edge(str(element).strip(), str(edge or "K").strip()).energy)
    except Exception:
        return None


def align(energy, ref_mu, target_ref_mu, target_energy=None, *, window=None, max_shift: float = 5.0) -> float:
    """Energy shift (eV) that brings a reference-channel spectrum onto a target reference.

    The derivative of ``ref_mu``, shifted by s and scaled freely, is fitted by least squares to
    the derivative of ``target_ref_mu`` over ``window``; s is found on a grid of a tenth of the
    smallest energy step over ±``max_shift`` and refined by Brent's method. Add the result to
    ``energy`` (of the spectrum and of its sample channel) to align it with the target.

    Parameters
    ----------
    energy, ref_mu : array_like
        Energies (eV) and the reference channel (e.g. ln(itrans/irefer)) to be shifted.
    target_ref_mu : array_like
        The reference channel to align to; on ``target_energy`` (default: ``energy``).
    window : (float, float), optional
        Absolute energies (eV) compared; default the target's whole range less ``max_shift``.
        Choose it around the reference foil's edge (e.g. tabulated edge −10…+5 eV).
    max_shift : float
        Largest shift considered (eV); reaching it raises :class:`LithmapError`.

    Returns
    -------
    float
        The shift in eV.
    """
    from scipy.optimize import minimize_scalar

    e = check_energies(energy, "energy")
    te = e if target_energy is None else check_energies(target_energy, "target_energy")
    r = np.asarray(ref_mu, float)
    t = np.asarray(target_ref_mu, float)
    if r.shape != e.shape or t.shape != te.shape:
        raise LithmapError(f"align: reference channels have shapes {r.shape} and {t.shape} for "
                           f"{e.size} and {te.size} energies")
    if not (np.isfinite(r).all() and np.isfinite(t).all()):
        raise LithmapError("align: the reference channels contain NaN or infinite values")
    if not max_shift > 0:
        raise LithmapError(f"max_shift={max_shift!r} is invalid; expected a positive number of eV")
    wlo, whi = (te[0], te[-1]) if window is None else (float(window[0]), float(window[1]))
    lo, hi = max(wlo, e[0] + max_shift), min(whi, e[-1] - max_shift)
    sel = (te >= lo) & (te <= hi)
    if sel.sum() < 5:
        raise LithmapError(f"align: window {wlo:.6g}-{whi:.6g} eV holds {int(sel.sum())} energies of the target "
                           f"({te[0]:.6g}-{te[-1]:.6g} eV) at least {max_shift:g} eV (max_shift) inside the data "
                           f"({e[0]:.6g}-{e[-1]:.6g} eV); it needs 5")
    x = te[sel]
    dt = np.gradient(t, te)[sel]
    ds = np.gradient(r, e)
    tt = float(dt @ dt)
    if tt <= 0:
        raise LithmapError(f"align: the target reference is flat between {lo:.6g} and {hi:.6g} eV")

    def cost(s):
        y = np.interp(x - s, e, ds)
        yy = float(y @ y)
        return 1.0 - (float(y @ dt) ** 2 / (yy * tt) if yy > 0 else 0.0)

    h = float(np.min(np.diff(e))) / 10.0
    grid = np.arange(-max_shift, max_shift + 0.5 * h, h)
    costs = np.array([cost(s) for s in grid])
    k = int(np.argmin(costs))
    res = minimize_scalar(cost, bounds=(grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]), method="bounded",
                          options={"xatol": 1e-4})
    s = float(res.x) if res.fun <= costs[k] else float(grid[k])
    if abs(s) >= max_shift - h:
        raise LithmapError(f"align: the best shift reaches the limit ±{max_shift:g} eV in {lo:.6g}-{hi:.6g} eV; "
                           "the reference channels do not match (check the window)")
    return s


def select_window(spectra, lo: float, hi: float):
    """The part of ``spectra`` (DataArray or Dataset with an ``energy`` coordinate in eV) with
    lo ≤ energy ≤ hi. Raises :class:`LithmapError` when fewer than 2 energies remain."""
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise LithmapError(f"window {lo:g}:{hi:g} eV is invalid; expected lo < hi")
    if "energy" not in spectra.coords:
        raise LithmapError("select_window needs spectra with an 'energy' coordinate (eV)")
    e = spectra["energy"].values
    keep = (e >= lo) & (e <= hi)
    if keep.sum() < 2:
        src = spectra.attrs.get("source", "the spectra")
        raise LithmapError(f"window {lo:g}:{hi:g} eV holds {int(keep.sum())} energies of {src} "
                           f"({e.min():.6g}-{e.max():.6g} eV)")
    return spectra.isel(energy=np.flatnonzero(keep))


def interpolate_standards(standards, energy) -> xr.DataArray:
    """Standards on the energy grid ``energy`` (eV) by linear interpolation, never extrapolated.

    Parameters
    ----------
    standards : mapping name -> DataArray, or sequence of named DataArrays
        Each a 1-D spectrum with an ``energy`` coordinate in eV.
    energy : array_like or DataArray
        The sample's energies (the fitting window).

    Returns
    -------
    xarray.DataArray
        ``standards`` on (energy, standard), the ``standard`` coordinate holding the names.

    Raises
    ------
    LithmapError
        A standard that does not cover the whole of ``energy`` (named, with both ranges).
    """
    if isinstance(standards, Mapping):
        items = list(standards.items())
    elif isinstance(standards, Sequence) and not isinstance(standards, (str, bytes)):
        items = [(s.name if s.name is not None else f"standard_{i}", s) for i, s in enumerate(standards)]
    else:
        raise LithmapError("standards must be a mapping name -> spectrum or a list of named DataArrays")
    if not items:
        raise LithmapError("no standards given")
    e = check_energies(np.asarray(energy), "sample energies")
    cols = []
    for name, s in items:
        if not isinstance(s, xr.DataArray) or "energy" not in s.coords or s.ndim != 1:
            raise LithmapError(f"standard {name!r} must be a 1-D spectrum with an 'energy' coordinate")
        se = check_energies(s["energy"].values, f"standard {name!r}")
        tol = 1e-9 * max(1.0, abs(se[-1]))
        if e[0] < se[0] - tol or e[-1] > se[-1] + tol:
            raise LithmapError(f"standard {name!r} covers {se[0]:.6g}-{se[-1]:.6g} eV but the window needs "
                               f"{e[0]:.6g}-{e[-1]:.6g} eV; narrow the window (it is never extrapolated)")
        cols.append(np.interp(np.clip(e, se[0], se[-1]), se, np.asarray(s.values, float)))
    names = [str(n) for n, _ in items]
    return xr.DataArray(np.stack(cols, axis=1), dims=("energy", "standard"),
                        coords={"energy": _energy_coord(e), "standard": names}, name="standards",
                        attrs={"units": "1", "long_name": "standard spectra on the sample energies"})
