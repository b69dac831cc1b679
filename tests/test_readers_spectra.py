"""The spectra readers on bad input: one clear line naming the file and what is wrong, exit ≠ 0
and nothing written (through ``lithmap lcf``), and property-based damaged copies of real and
small hand-made files (tests/corrupt.py): a result or a one-line LithmapError, never a traceback
or a hang.

Real data: the Mn K-edge XANES standards (tests/data/xanes-standards, CC0). The Athena project,
TIFF stack, energies list and NetCDF/HDF5/NeXus files are written here, small, once per session.
"""

import gzip
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import xarray as xr
from typer.testing import CliRunner

import lithmap as lm
from corrupt import check_reader, damaged_copies
from lithmap.cli import app

DATA = Path(__file__).parent / "data" / "xanes-standards"
XDI = [DATA / "MnO_rt_01.xdi", DATA / "Mn2O3_rt_02.xdi", DATA / "MnO2_rt_03.xdi", DATA / "Mn3O4_rt_01.xdi"]
STD = ["--standard", f"{DATA}/MnO_rt_01.xdi:2", "--standard", f"{DATA}/Mn2O3_rt_01.xdi:3",
       "--standard", f"{DATA}/MnO2_rt_01.xdi:4"]
runner = CliRunner()


def _raw(path):
    a = np.loadtxt(path, comments="#")
    return a[:, 0], np.log(a[:, 1] / a[:, 2]), a[:, 1]


def _perl(values):
    return "(" + ",".join(f"'{v}'" if isinstance(v, str) else f"'{float(v)!r}'" for v in values) + ")"


def _prj_text(groups) -> bytes:
    """A small Athena project in Demeter's Data::Dumper layout (as tests/test_spectra.py writes)."""
    lines = ["# Athena project file -- Demeter version 0.9.26", "@journal = ();", ""]
    for gid, label, eshift, x, y, i0 in groups:
        args = ["bkg_e0", "6544.0", "bkg_eshift", str(eshift), "datatype", "xmu", "label", label]
        lines += [f"$old_group = '{gid}';", f"@args = {_perl(args)};", f"@x = {_perl(list(x))};",
                  f"@y = {_perl(list(y))};", f"@i0 = {_perl(list(i0))};", "[record]", ""]
    lines += ["1;", ""]
    return "\n".join(lines).encode()


def _build(folder: Path) -> dict:
    """The small files of every reader family, made from the real MnO and MnO2 scans."""
    e, mu, i0 = _raw(DATA / "MnO_rt_01.xdi")
    _, mu2, _ = _raw(DATA / "MnO2_rt_01.xdi")
    keep = slice(0, None, 4)  # a shorter scan keeps the damaged copies small
    e, mu, mu2, i0 = e[keep], mu[keep], mu2[keep], i0[keep]
    files = {}
    groups = [("abcde", "MnO", 0.5, e, mu, i0), ("fghij", "MnO2", -1.0, e, mu2, i0)]
    files["prj"] = folder / "standards.prj"
    files["prj"].write_bytes(_prj_text(groups))
    files["prj_gz"] = folder / "packed.prj"
    files["prj_gz"].write_bytes(gzip.compress(_prj_text(groups)))
    files["text"] = folder / "MnO.txt"
    files["text"].write_text("# energy mu\n" + "".join(f"{a:.3f} {b:.6f}\n" for a, b in zip(e, mu)))
    cube = np.stack([mu, mu2], axis=1)[:, :, None] * np.ones((1, 1, 3))  # (energy, 2, 3)
    files["tiff"] = folder / "map.tif"
    tifffile.imwrite(files["tiff"], cube.astype(np.float32), photometric="minisblack")
    files["energies"] = folder / "energies.txt"
    files["energies"].write_text("# eV\n" + "".join(f"{v:.3f}\n" for v in e))
    files["nc"] = folder / "map.nc"
    xr.Dataset({"absorbance": (("energy", "y", "x"), cube)},
               coords={"energy": ("energy", e, {"units": "eV"})}).to_netcdf(files["nc"], engine="h5netcdf")
    files["h5"] = folder / "plain.h5"
    with h5py.File(files["h5"], "w") as f:
        f["absorbance"] = cube
        f["energy"] = e
    files["nexus"] = folder / "scan.nxs.h5"
    with h5py.File(files["nexus"], "w") as f:
        data = f.create_group("entry").create_group("data")
        data.attrs.update(NX_class="NXdata", signal="od", axes=["photon_energy", ".", "."])
        data["od"] = cube
        data["photon_energy"] = e / 1000
        data["photon_energy"].attrs["units"] = "keV"
    return files


# built at import: the property tests name their source files when they are defined
FILES = _build(Path(tempfile.mkdtemp(prefix="lithmap-spectra-")))


def test_the_small_files_read_back():
    assert lm.read_prj(FILES["prj"]).attrs["group"] == "MnO"
    assert lm.read_spectra(f"{FILES['prj_gz']}:MnO2").attrs["energy_shift"] == -1.0
    assert lm.read_spectra(FILES["text"])["mu"].dims == ("energy",)
    stack = lm.read_spectra(FILES["tiff"], energies=FILES["energies"])["mu"]
    assert stack.dims == ("energy", "y", "x") and stack.shape[1:] == (2, 3)
    for key in ("nc", "h5", "nexus"):
        ds = lm.read_spectra(FILES[key])
        np.testing.assert_allclose(ds["mu"].values, stack.values, rtol=1e-6)
        np.testing.assert_allclose(ds["energy"].values, stack["energy"].values, rtol=1e-12)


# ------------------------------------------------------------------ bad input through the CLI


def _lcf(tmp_path, sample, *extra, std=STD):
    out = tmp_path / "out.nc"
    res = runner.invoke(app, ["lcf", *std, str(sample), *extra, "--out", str(out)])
    return res, out


def _one_line(res, out, *words):
    text = res.output.strip()
    assert res.exit_code != 0 and not out.exists() and not out.with_suffix(".png").exists(), res.output
    assert len(text.splitlines()) == 1 and text.startswith("error: "), res.output
    for w in words:
        assert w in text, text


def test_xdi_bad_input_one_line(tmp_path):
    bad = tmp_path / "broken.xdi"
    lines = (DATA / "MnO_rt_01.xdi").read_text().splitlines()
    body = [i for i, s in enumerate(lines) if s.strip() and not s.startswith("#")]
    lines[body[5]] = "6530.1 0.5 abc 0.3"
    bad.write_text("\n".join(lines) + "\n")
    res, out = _lcf(tmp_path, bad)
    _one_line(res, out, "broken.xdi", "is not numbers")
    nocol = tmp_path / "nocolumns.xdi"
    nocol.write_text("6500 0.1\n6501 0.2\n")
    res, out = _lcf(tmp_path, nocol)
    _one_line(res, out, "nocolumns.xdi", "names no columns")


def test_prj_bad_input_one_line(tmp_path):
    bad = tmp_path / "damaged.prj"
    bad.write_bytes(FILES["prj_gz"].read_bytes()[:60])
    res, out = _lcf(tmp_path, bad)
    _one_line(res, out, "damaged.prj", "damaged gzip")
    res, out = _lcf(tmp_path, f"{FILES['prj']}:Mn3O4")
    _one_line(res, out, "standards.prj", "no group 'Mn3O4'")


def test_text_bad_input_one_line(tmp_path):
    bad = tmp_path / "ragged.txt"
    bad.write_text("6530 0.1\n6531 0.2 0.3\n")
    res, out = _lcf(tmp_path, bad)
    _one_line(res, out, "ragged.txt", "has 3 columns")


def test_tiff_stack_and_energies_bad_input_one_line(tmp_path):
    bad = tmp_path / "cut.tif"
    bad.write_bytes(FILES["tiff"].read_bytes()[:100])
    res, out = _lcf(tmp_path, bad, "--energies", str(FILES["energies"]))
    _one_line(res, out, "cut.tif", "not readable")
    res, out = _lcf(tmp_path, FILES["tiff"])
    _one_line(res, out, "map.tif", "needs its energies")
    energies = tmp_path / "energies_bad.txt"
    energies.write_text("6530\n6531\nabc\n")
    res, out = _lcf(tmp_path, FILES["tiff"], "--energies", str(energies))
    _one_line(res, out, "energies_bad.txt", "line 3 is not numbers")
    short = tmp_path / "energies_short.txt"
    short.write_text("6530\n6531\n6532\n")
    res, out = _lcf(tmp_path, FILES["tiff"], "--energies", str(short))
    _one_line(res, out, "energies_short.txt", "has 3 energies but the stack has")


def test_netcdf_hdf5_bad_input_one_line(tmp_path):
    cut = tmp_path / "cut.nc"
    cut.write_bytes(FILES["nc"].read_bytes()[:500])
    res, out = _lcf(tmp_path, cut)
    _one_line(res, out, "cut.nc", "not a readable NetCDF/HDF5 file")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["counts"] = np.ones((3, 2, 2))
    res, out = _lcf(tmp_path, other)
    _one_line(res, out, "other.h5", "no dataset 'absorbance'")
    kev = tmp_path / "mev.nc"
    xr.Dataset({"absorbance": (("energy", "y", "x"), np.ones((3, 2, 2)))},
               coords={"energy": ("energy", [1.0, 2.0, 3.0], {"units": "MeV"})}).to_netcdf(kev, engine="h5netcdf")
    res, out = _lcf(tmp_path, kev)
    _one_line(res, out, "mev.nc", "energy units 'MeV' are not supported")


# ------------------------------------------------------------ property-based damaged copies


@damaged_copies(*XDI, max_examples=40)
def test_damaged_xdi_fails_cleanly(path):
    check_reader(lm.read_xdi, path)
    check_reader(lm.read_spectra, path)


@damaged_copies(FILES["prj"], FILES["prj_gz"], max_examples=40)
def test_damaged_prj_fails_cleanly(path):
    check_reader(lm.read_prj, path)
    check_reader(lm.read_prj, path, "MnO2")


@damaged_copies(FILES["text"], max_examples=25)
def test_damaged_text_fails_cleanly(path):
    check_reader(lm.read_text_spectrum, path)


@damaged_copies(FILES["tiff"], max_examples=30)
def test_damaged_tiff_stack_fails_cleanly(path):
    check_reader(lm.read_tiff_stack, path, FILES["energies"])
    check_reader(lm.read_spectra, path, energies=FILES["energies"], i0=1.0)


@damaged_copies(FILES["energies"], max_examples=25)
def test_damaged_energies_fail_cleanly(path):
    check_reader(lm.read_energies, path)
    check_reader(lm.read_tiff_stack, FILES["tiff"], path)


@damaged_copies(FILES["nc"], FILES["h5"], FILES["nexus"], max_examples=40)
def test_damaged_netcdf_hdf5_fails_cleanly(path):
    check_reader(lm.read_absorbance, path)


@pytest.mark.parametrize("key", ["prj", "text", "tiff", "nc"])
def test_an_empty_file_is_one_line(tmp_path, key):
    p = tmp_path / FILES[key].name
    p.write_bytes(b"")
    kwargs = {"energies": FILES["energies"]} if key == "tiff" else {}
    with pytest.raises(lm.LithmapError, match=p.name):
        lm.read_spectra(p, **kwargs)


# ------------------------------------------------- the TIFF path (the movie reader) and I0 files


def _stack_files(folder: Path) -> dict:
    """Small stacks as tifffile writes them: grey pages, an ImageJ stack (tifffile calls its
    pages channels), 3 pages as older tifffile wrote them without photometric (RGB planes: tifffile
    calls them samples), and an I0 flat field."""
    rng = np.random.default_rng(9)
    cube = (200 + 50 * rng.random((5, 4, 6))).astype(np.float32)
    files = {"grey": (folder / "grey.tif", cube, {"photometric": "minisblack"}),
             "zlib": (folder / "zlib.tif", cube, {"photometric": "minisblack", "compression": "zlib"}),
             "imagej": (folder / "imagej.tif", cube, {"imagej": True}),
             "three": (folder / "three.tif", cube[:3], {"photometric": "rgb", "planarconfig": "separate"}),
             "i0": (folder / "i0.tif", np.full(cube.shape, 300, np.float32), {"photometric": "minisblack"})}
    for p, a, kw in files.values():
        tifffile.imwrite(p, a, **kw)
    return files


STACKS = _stack_files(Path(tempfile.mkdtemp(prefix="lithmap-stacks-")))


@pytest.mark.parametrize("key", ["grey", "zlib", "imagej", "three"])
def test_tiff_stack_values_as_stored(key):
    p, a, _ = STACKS[key]
    e = 6530.0 + 10 * np.arange(a.shape[0])
    da = lm.read_tiff_stack(p, e)
    assert da.dims == ("energy", "y", "x") and da.dtype == np.float32
    np.testing.assert_array_equal(da.values, tifffile.imread(p))
    od = lm.read_tiff_stack(p, e, i0=STACKS["i0"][0] if key != "three" else 300.0)
    np.testing.assert_allclose(od.values, -np.log(a / np.float32(300)), rtol=1e-6)


def test_damaged_i0_tiff_is_one_line(tmp_path):
    p, a, _ = STACKS["grey"]
    bad = tmp_path / "i0.tif"
    bad.write_bytes(STACKS["i0"][0].read_bytes()[:300])
    e = 6530.0 + 10 * np.arange(a.shape[0])
    for call in (lambda: lm.read_tiff_stack(p, e, i0=bad), lambda: lm.optical_density(a, bad)):
        with pytest.raises(lm.LithmapError, match=r"I0 file '.*i0\.tif' is not readable") as info:
            call()
        assert "\n" not in str(info.value)


@damaged_copies(STACKS["i0"][0], STACKS["imagej"][0], max_examples=30)
def test_damaged_i0_and_imagej_tiff_fail_cleanly(path):
    p, a, _ = STACKS["grey"]
    e = 6530.0 + 10 * np.arange(a.shape[0])
    check_reader(lm.read_tiff_stack, p, e, i0=path)
    check_reader(lm.optical_density, a, path)
    check_reader(lm.read_tiff_stack, path, e)
