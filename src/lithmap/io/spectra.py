"""X-ray absorption spectra and spectro-microscopy images: the readers.

Every reader returns labelled xarray with the photon energy as an ``energy`` coordinate in eV
(``units`` attr ``"eV"``), checked finite and strictly increasing, and says in one line which
file is wrong and how when it cannot (a :class:`~lithmap.LithmapError`). Return shapes:

- one spectrum → :class:`xarray.Dataset` with ``mu`` (energy), and ``mu_ref`` (the reference
  channel) when the file records one: :func:`read_xdi`, :func:`read_prj`,
  :func:`read_text_spectrum`;
- an image stack or volume → :class:`xarray.DataArray` ``absorbance`` on (energy, y, x) or
  (energy, z, y, x): :func:`read_tiff_stack` (with one energy per image, :func:`read_energies`;
  with ``i0`` the stack is transmitted intensity, made optical density −ln(I/I0) by
  :func:`optical_density`), :func:`read_absorbance` (NetCDF/HDF5/NeXus);
- any of these → :func:`read_spectra`: always a Dataset whose ``mu`` is the absorption signal,
  energy first, then the spatial dims of a map (none for one spectrum).

Also here, for the spectro commands: :func:`read_field` (a map or volume from a result
variable or an image file) and :func:`read_element_images` (element images at two energies).
Pre-processing (normalisation, alignment, windows) is in :mod:`lithmap.spectro.spectra`.

**One TIFF path, one HDF5 check.** TIFF stacks and I0 flat fields are read by the movie reader
(:mod:`lithmap.io.movies`, which finds truncated and damaged files up front), with one exception:
a series tifffile labels as colour samples or channels (what ``tifffile.imwrite`` makes of a
stack of 3 or 4 images without ``photometric="minisblack"``, or of an ImageJ stack without axes)
is refused by the movie reader, whose frames must be grey, and is read here by tifffile as
stored, its images the energies. NetCDF/HDF5 absorbance files keep their own h5py reader,
because an absorbance stack may be 4D (energy, z, y, x) and its energies come from a coordinate,
a sibling dataset or a NeXus ``axes`` attribute, none of which a movie has; before any reading,
the file is walked by the check every NetCDF result gets (:mod:`lithmap.io.results`), so a
damaged file is one line on stderr and nothing else.

>>> import lithmap
>>> ds = read_spectra(lithmap.example_file("MnO_rt_01.xdi"))
>>> ds["mu"].dims, ds["energy"].attrs["units"], ds.sizes["energy"]
(('energy',), 'eV', 217)
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import LithmapError
from .units import unit_scale

__all__ = ["check_energies", "optical_density", "read_absorbance", "read_element_images", "read_energies",
           "read_field", "read_prj", "read_spectra", "read_text_spectrum", "read_tiff_stack", "read_xdi",
           "split_prj_group"]

SPECTRUM_SUFFIXES = (".xdi", ".prj", ".txt", ".dat", ".csv", ".xmu", ".nor")
STACK_SUFFIXES = (".tif", ".tiff")
ARRAY_SUFFIXES = (".nc", ".nc4", ".cdf", ".h5", ".hdf5", ".hdf", ".he5")

_MU_COLUMNS = ("mutrans", "mu", "xmu", "mu_trans", "mutrans_norm")
_REF_MU_COLUMNS = ("murefer", "mu_ref", "mu_refer", "mureference")

# ---------------------------------------------------------------------------------------------
# small checks shared by the readers


def _require_file(path, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise LithmapError(f"{what} {str(p)!r} does not exist")
    return p


def check_energies(energy, source: str = "energies") -> np.ndarray:
    """Return ``energy`` as a float array after checking it is 1-D, finite and strictly increasing.

    Parameters
    ----------
    energy : array_like
        Energies in eV.
    source : str
        What they are, for the error message (e.g. ``"XDI file 'a.xdi'"``).

    Returns
    -------
    numpy.ndarray of float

    Raises
    ------
    LithmapError
        Naming ``source`` and the first offending index and values.

    Examples
    --------
    >>> check_energies([6530, 6540.5, 6550])
    array([6530. , 6540.5, 6550. ])
    >>> check_energies([6530, 6550, 6540], "scan.txt")
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: scan.txt: energies are not strictly increasing at index 2 (6550 eV then 6540 eV)
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
    """eV per unit of a file's energy unit (none given: eV), by :func:`lithmap.io.units.unit_scale`."""
    scale = unit_scale(units, "eV", default="eV")
    if scale is None:
        raise LithmapError(f"{source}: energy units {units!r} are not supported; expected eV or keV")
    return scale


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

    Raises
    ------
    LithmapError
        A missing or unreadable file, rows that are not numbers or of unequal length, no
        ``energy`` column, energies not strictly increasing, no mu and no intensities.

    Examples
    --------
    >>> import lithmap
    >>> ds = read_xdi(lithmap.example_file("MnO_rt_01.xdi"))
    >>> ds.attrs["element"], ds.attrs["edge"], ds["energy"].attrs["units"]
    ('Mn', 'K', 'eV')
    >>> sorted(v for v in ("mu", "mu_ref") if v in ds)
    ['mu', 'mu_ref']
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

    Raises
    ------
    LithmapError
        A missing file, a damaged gzip stream, no groups, an unknown group (the message lists
        the groups), data that are not mu(E), or arrays that are not numbers or differ in length.

    Examples
    --------
    A one-group project written by hand, in Athena's ``Data::Dumper`` layout:

    >>> import pathlib, tempfile
    >>> prj = pathlib.Path(tempfile.mkdtemp()) / "std.prj"
    >>> _ = prj.write_text("$old_group = 'abc';\\n@args = ('label','MnO','bkg_eshift','1.5','datatype','xmu');\\n"
    ...                    "@x = ('6530','6540','6550');\\n@y = ('0.1','0.6','1.0');\\n")
    >>> ds = read_prj(prj)
    >>> ds.attrs["group"], ds["energy"].values.tolist()
    ('MnO', [6531.5, 6541.5, 6551.5])
    """
    path, group = split_prj_group(path, group)
    p = _require_file(path, "Athena project")
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
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
    """Split ``"file.prj:NAME"`` into ``("file.prj", "NAME")`` (``group`` wins when given).

    >>> split_prj_group("standards.prj:MnO")
    ('standards.prj', 'MnO')
    >>> split_prj_group("MnO.xdi")
    ('MnO.xdi', None)
    """
    s = str(path)
    m = re.match(r"^(.*\.prj):([^\\/]+)$", s, flags=re.IGNORECASE)
    if m and not Path(s).exists():
        return m.group(1), group if group is not None else m.group(2)
    return s, group


# ---------------------------------------------------------------------------------------------
# plain text, TIFF stacks, NetCDF/HDF5


def read_text_spectrum(path) -> xr.Dataset:
    """Read a two-column text spectrum: energy (eV) and mu; ``#`` lines are comments.

    Parameters
    ----------
    path : str or Path
        Text file; columns separated by spaces, tabs, commas or semicolons. Extra columns are
        ignored.

    Returns
    -------
    xarray.Dataset
        ``mu`` (energy), the ``energy`` coordinate in eV; attrs ``source`` and ``format``.

    Raises
    ------
    LithmapError
        A missing file, a line that is not numbers, rows of unequal length, one column only, or
        energies not strictly increasing (the message names the file and the row).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "mu.txt"
    >>> _ = p.write_text("# energy mu\\n6530 0.1\\n6540, 0.6\\n6550\\t1.0\\n")
    >>> read_text_spectrum(p)["mu"].values.tolist()
    [0.1, 0.6, 1.0]
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
    be strictly increasing and, when ``n`` is given, ``n`` long.

    Parameters
    ----------
    energies : str, Path or array_like
        A text file with one energy in eV per line, or the energies themselves.
    n : int, optional
        The number of energies required (the stack's number of images).
    source : str
        What the energies are, for messages about an array (a file names itself).

    Returns
    -------
    numpy.ndarray of float, in eV

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "energies.txt"
    >>> _ = p.write_text("# eV\\n6530\\n6540\\n6550\\n")
    >>> read_energies(p, 3).tolist()
    [6530.0, 6540.0, 6550.0]
    >>> read_energies(p, 4)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lithmap.errors.LithmapError: energy list '...energies.txt' has 3 energies but the stack has 4 images
    """
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


def _tiff_series_axes(p: Path) -> str:
    """The axes of the first image series of a TIFF file (tifffile's letters), '' when unreadable."""
    import tifffile

    try:
        with tifffile.TiffFile(p) as tf:
            return str(tf.series[0].axes) if tf.series else ""
    except Exception:  # noqa: BLE001 - only a hint; the caller reports the real error
        return ""


def _read_tiff(p: Path, what: str) -> np.ndarray:
    """The first image series of a TIFF file, as stored, read by the movie reader
    (:func:`lithmap.io.movies._open_stack`, which finds truncated and damaged files).

    One exception: a series that tifffile labels as colour samples (``S``) or channels (``C``)
    — what ``tifffile.imwrite`` makes of a stack of 3 or 4 images without
    ``photometric="minisblack"``, and of any ImageJ stack without axes — is refused by the movie
    reader (a movie has grey frames); here it is read by tifffile as stored, each of its images
    one energy, as lithmap always did. Every failure is one LithmapError line naming the file.
    """
    import logging

    from .movies import _captured, _install_filter, _open_stack

    try:
        values, _ = _open_stack(p, require_stack=False)
        return np.asarray(values)
    except LithmapError as exc:
        message = str(exc)
    _install_filter(["tifffile"])  # tifffile logs damage: keep it off the console, fail on errors
    with _captured() as records:
        axes = _tiff_series_axes(p)
        if set(axes) & set("SC"):
            import tifffile

            try:
                stack = np.asarray(tifffile.imread(p))
            except Exception as exc:  # noqa: BLE001 - tifffile raises many types on damaged files
                stack, message = None, f"is not a readable TIFF file ({type(exc).__name__}: {_first_line(exc)})"
            errors = [r for r in records if r.levelno >= logging.ERROR]
            if stack is not None and not errors:
                return stack
            if errors:
                message = f"is truncated or corrupt (tifffile: {_first_line(errors[0].getMessage())})"
    detail = message.removeprefix(f"movie {str(p)!r} ")
    detail = f": it {detail}" if detail.startswith(("is ", "has ", "could ")) else f" ({detail})"
    raise LithmapError(f"{what} {str(p)!r} is not readable{detail}")


def _first_line(text) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


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
        ``absorbance`` on (energy, y, x) with the energies in eV, ``y``/``x`` in pixels
        (``units`` ``"pixel"``); attrs ``source``, ``conversion`` and ``units``.

    Raises
    ------
    LithmapError
        An unreadable TIFF, a single image, energies that are not one per image or not strictly
        increasing, an I0 of the wrong shape.

    Examples
    --------
    >>> import pathlib, tempfile, tifffile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> I = 500 * np.array([1.0, 0.5, 0.25])[:, None, None] * np.ones((3, 4, 5))
    >>> tifffile.imwrite(d / "stack.tif", I.astype(np.float32), photometric="minisblack")
    >>> _ = (d / "energies.txt").write_text("6530\\n6540\\n6550\\n")
    >>> od = read_tiff_stack(d / "stack.tif", d / "energies.txt", i0=500.0)
    >>> od.dims, od.dtype.name, [round(float(v), 4) for v in od.values[:, 0, 0]]
    (('energy', 'y', 'x'), 'float32', [-0.0, 0.6931, 1.3863])
    """
    p = _require_file(path, "TIFF stack")
    stack = _read_tiff(p, "TIFF stack")
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
    Pixels where I or I0 is not positive become NaN.

    Parameters
    ----------
    intensity : array_like
        Transmitted intensity, energy first.
    i0 : float, array_like, str or Path
        Incident intensity: a scalar, one per energy, or a flat field of the stack's shape;
        or a file holding one of these (one-column text, TIFF).
    source : str
        What the stack is, for error messages.

    Returns
    -------
    numpy.ndarray
        −ln(I/I0), float (the stack's float type).

    Examples
    --------
    >>> np.round(optical_density(np.array([[100.0], [50.0]]), [100.0, 100.0]), 4).tolist()
    [[-0.0], [0.6931]]
    """
    s = np.asarray(intensity)
    if isinstance(i0, (str, Path)):
        q = _require_file(i0, "I0 file")
        if q.suffix.lower() in STACK_SUFFIXES:
            ref = np.asarray(_read_tiff(q, "I0 file"), float)
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

    Parameters
    ----------
    path : str or Path
        ``.nc``/``.h5``/``.hdf5``/``.nxs`` … file.

    Returns
    -------
    xarray.DataArray
        ``absorbance`` with dims ``energy`` first, then (y, x) or (z, y, x); ``energy`` in eV.

    Raises
    ------
    LithmapError
        A file that is not NetCDF/HDF5, no ``absorbance`` (nor a NeXus signal), no energies, a
        stack that is not 3D/4D, or energies that do not match it.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "map.nc"
    >>> xr.Dataset({"absorbance": (("energy", "y", "x"), np.ones((3, 2, 2)))},
    ...            coords={"energy": ("energy", [6.53, 6.54, 6.55], {"units": "keV"})}).to_netcdf(p, engine="h5netcdf")
    >>> da = read_absorbance(p)
    >>> da.dims, da["energy"].values.tolist()
    (('energy', 'y', 'x'), [6530.0, 6540.0, 6550.0])
    """
    import gc
    import warnings

    from .results import _hdf5_problem, _quiet_destructors

    p = _require_file(path, "absorbance file")
    src = f"absorbance file {str(p)!r}"
    problem = _hdf5_problem(p)  # a damaged header fails here, before h5netcdf half-opens it
    if problem is not None:
        raise LithmapError(f"{src} is not a readable NetCDF/HDF5 file ({problem})")
    da = None
    with _quiet_destructors():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with xr.open_dataset(p, engine="h5netcdf", phony_dims="access") as ds:
                    if "absorbance" in ds.variables and "energy" in ds["absorbance"].dims:
                        da = ds["absorbance"].load()
        except Exception:  # noqa: BLE001 - not NetCDF after all: read it as plain HDF5 below
            da = None
        if da is None:
            gc.collect()  # a half-opened h5netcdf file goes now, quietly
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
        if axes is None:
            first = "energy"
        else:
            first = _text(axes[0] if not isinstance(axes, (str, bytes)) else axes)
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
        Always a Dataset, whatever the file: ``mu`` is the absorption signal, dims ``energy``
        first and then the spatial dims of a map or volume (none for a spectrum file);
        ``mu_ref`` when a reference channel was recorded; the ``energy`` coordinate in eV;
        attrs ``source`` and ``format``. (The family readers return a Dataset for one spectrum
        and the ``absorbance`` DataArray for a stack.)

    Raises
    ------
    LithmapError
        An unknown suffix, a missing file, ``energies``/``i0`` given for a file that is not a
        TIFF stack, and whatever the family reader finds wrong; one line naming the file.

    Examples
    --------
    >>> import lithmap
    >>> ds = read_spectra(lithmap.example_file("Mn2O3_rt_01.xdi"))
    >>> ds.attrs["format"], ds["mu"].dims, round(float(ds["energy"][0]), 1)
    ('XDI', ('energy',), 6520.0)
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
# maps and element images for the spectro commands

_RESULT_SUFFIXES = (".nc", ".nc4", ".zarr")


def read_field(source, variable: str | None = None) -> xr.DataArray:
    """A map or volume — a variable of a lithmap result, or an image — as a float DataArray.

    Parameters
    ----------
    source : str or Path
        A lithmap result (``.nc``/``.zarr``, e.g. what ``lithmap lcf`` writes), or an image or
        volume file (TIFF, PNG, ``file.h5:/dataset``; read by :func:`lithmap.io.read_image`).
    variable : str, optional
        The result's variable (e.g. ``"mean_valence"``); default its only data variable
        (besides ``mask``). Not used for image files.

    Returns
    -------
    xarray.DataArray
        float64 values with the file's dims and coordinates (an image: (y, x) or (z, y, x) in m,
        or pixels). A result's ``mask`` variable, when it has one on the same spatial dims,
        comes along as the boolean coordinate ``mask`` (by lithmap's one mask rule), which
        :func:`lithmap.shell_statistics` uses by default.

    Raises
    ------
    LithmapError
        A missing or unreadable file, or a result without ``variable`` (the message lists its
        variables).

    Examples
    --------
    >>> import lithmap
    >>> img = read_field(lithmap.example_file("example_particle.png"))
    >>> img.dims, img.dtype.name
    (('y', 'x'), 'float64')
    """
    from .masks import as_mask

    text = str(source)
    p = Path(text)
    if p.suffix.lower() in _RESULT_SUFFIXES:
        from .results import read_result

        ds = read_result(p)
        names = [v for v in ds.data_vars if v != "mask"]
        if variable is None:
            if len(names) != 1:
                raise LithmapError(f"{text!r} has variables {sorted(ds.data_vars)}; say which one (variable=)")
            variable = names[0]
        if variable not in ds:
            raise LithmapError(f"{text!r} has no variable {variable!r}; it has {sorted(ds.data_vars)}")
        da = ds[variable].astype(float)
        da.name = variable
        if "mask" in ds and variable != "mask" and set(ds["mask"].dims) <= set(da.dims):
            raw = ds["mask"].values
            m = as_mask(raw, source=text) if np.any(raw) else np.zeros(raw.shape, bool)
            da = da.assign_coords(mask=(ds["mask"].dims, m, {"long_name": f"particle mask of {p.name}"}))
        da.attrs.setdefault("source", text)
        return da
    from .images import read_image

    img = read_image(text)
    return img.astype(float, keep_attrs=True)


def read_element_images(specs, *, pixel_size: float | None = None) -> tuple[dict, dict]:
    """Element images at two photon energies each, for :func:`lithmap.composition_maps`.

    Parameters
    ----------
    specs : sequence of str or tuple
        One per element: ``"EL,BELOW_IMAGE,E_BELOW,ABOVE_IMAGE,E_ABOVE"`` (what ``lithmap
        composition --element`` takes, e.g. ``"Ni,ni_845.tif,845eV,ni_856.tif,856eV"``) or the
        tuple ``(EL, BELOW_IMAGE, E_BELOW, ABOVE_IMAGE, E_ABOVE)``. Energies are quantities
        (``"845eV"``, ``"0.845keV"``) or numbers in eV; images are read by
        :func:`lithmap.io.read_image`.
    pixel_size : float, optional
        Pixel size in m for images that do not record one.

    Returns
    -------
    images : dict
        element → (image below, image above), DataArrays.
    energies : dict
        element → (E_below, E_above) in eV.

    Raises
    ------
    LithmapError
        A spec that is not five fields, an image that does not exist or cannot be read, an
        energy that is not a quantity.

    Examples
    --------
    >>> import lithmap
    >>> png = lithmap.example_file("example_particle.png")
    >>> images, energies = read_element_images([f"Ni,{png},845eV,{png},0.86keV"])
    >>> energies
    {'Ni': (845.0, 860.0)}
    >>> images["Ni"][0].dims
    ('y', 'x')
    """
    from .images import read_image

    if isinstance(specs, (str, tuple)):
        specs = [specs]
    images, energies = {}, {}
    for spec in specs:
        parts = [t.strip() for t in spec.split(",")] if isinstance(spec, str) else [str(t).strip() for t in spec]
        if len(parts) != 5:
            raise LithmapError(f"--element {spec!r} is invalid; expected EL,BELOW_IMAGE,E_BELOW,ABOVE_IMAGE,E_ABOVE "
                               "(e.g. Ni,ni_845.tif,845eV,ni_856.tif,856eV)")
        el, below, e_below, above, e_above = parts
        for f in (below, above):
            if not Path(f.split(".h5:")[0] + ".h5" if ".h5:" in f else f).exists():
                raise LithmapError(f"image {f!r} for {el} does not exist")
        images[el] = tuple(read_image(f, pixel_size=pixel_size) for f in (below, above))
        from .units import parse_quantity

        energies[el] = (parse_quantity(e_below, "eV", name="energy"), parse_quantity(e_above, "eV", name="energy"))
    return images, energies
