"""Result files, absorbance files and CSV tables on bad input, the way a user meets them.

Damaged copies (tests/corrupt.py) of a small ``lithmap contrast example`` result (NetCDF and
Zarr), of a small NetCDF ``absorbance`` map and of CSV tables (a real GITT pulse, a θ calibration
table) go through the readers (``read_result``, ``read_mask``, ``read_spectra``,
``read_columns``) and through the commands that read them (``simulate --shape``, ``contrast
--mask``, ``lcf``) in a fresh interpreter: a result, or ONE line ``error: ...`` on stderr with
exit ≠ 0 and nothing written; never a traceback, never a hang, never the "Exception ignored in
File.close" that a half-opened h5netcdf file used to print at exit.
"""

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import lithmap as lm
from corrupt import check_cli, check_cli_batch, check_reader, damage, damaged_copies, damaged_stores

HERE = Path(__file__).parent
GITT = HERE / "data" / "gitt-halfcell" / "pulse_1.csv"
XANES = HERE / "data" / "xanes-standards"
PROTOCOL = ["--material", "nmc811", "--protocol", "Rest for 1 minute"]


def _build(folder: Path) -> dict:
    """A 4-frame contrast result of the example movie (.nc and .zarr), a small absorbance map
    made from the real MnO and MnO2 scans, and a calibration table."""
    files = {}
    ds = lm.analyse_movie(lm.read_movie("example").isel(time=slice(0, 31, 10)))
    files["nc"] = lm.write_result(ds, folder / "contrast.nc")
    files["zarr"] = lm.write_result(ds, folder / "contrast.zarr")
    a = np.loadtxt(XANES / "MnO_rt_01.xdi", comments="#")[::4]
    b = np.loadtxt(XANES / "MnO2_rt_01.xdi", comments="#")[::4]
    cube = np.stack([np.log(a[:, 1] / a[:, 2]), np.log(b[:, 1] / b[:, 2])], axis=1)[:, :, None] * np.ones((1, 1, 3))
    files["absorbance"] = folder / "map.nc"
    xr.Dataset({"absorbance": (("energy", "y", "x"), cube)},
               coords={"energy": ("energy", a[:, 0], {"units": "eV"})}).to_netcdf(files["absorbance"],
                                                                                  engine="h5netcdf")
    files["calibration"] = folder / "calibration.csv"
    files["calibration"].write_text("total_contrast,theta\n" + "".join(
        f"{c:.6f},{t:.4f}\n" for c, t in zip(np.linspace(0.0, 0.3, 12), np.linspace(0.97, 0.4, 12))))
    return files


# built at import: the property tests name their source files when they are defined
FILES = _build(Path(tempfile.mkdtemp(prefix="lithmap-results-")))


def _flipped(src: Path, folder: Path, positions, name=None) -> list[Path]:
    """Copies of ``src`` with 8 bytes inverted at each of ``positions`` (bytes into the file)."""
    raw = src.read_bytes()
    out = []
    for k in positions:
        b = bytearray(raw)
        b[k:k + 8] = bytes(v ^ 0xFF for v in b[k:k + 8])
        p = folder / f"d{k}{src.suffix}" if name is None else folder / name
        p.write_bytes(bytes(b))
        out.append(p)
    return out


def _failing(read, paths, *args, **kwargs) -> list[Path]:
    """The damaged copies the reader refuses (a one-line LithmapError, checked)."""
    return [p for p in paths if check_reader(read, p, *args, **kwargs) is None]


# ------------------------------------------------------------------ the small files themselves


def test_the_small_files_read_back():
    ds = lm.read_result(FILES["nc"])
    dz = lm.read_result(FILES["zarr"])
    assert ds.sizes["time"] == 4 and set(ds.data_vars) == set(dz.data_vars)
    xr.testing.assert_equal(ds["total_contrast"], dz["total_contrast"])
    m = lm.read_mask(FILES["nc"])
    assert m.dtype == bool and m.dims == ("y", "x") and int(m.sum()) == int((ds["mask"] > 0).sum())
    np.testing.assert_array_equal(lm.read_mask(FILES["zarr"]).values, m.values)
    assert lm.read_spectra(FILES["absorbance"])["mu"].dims == ("energy", "y", "x")
    fields, rows = lm.read_columns(FILES["calibration"], ["total_contrast", "theta"])
    assert isinstance(fields, list) and isinstance(rows, list) and isinstance(rows[0], dict)
    assert fields == ["total_contrast", "theta"] and len(rows) == 12 and rows[0]["theta"] == "0.9700"


def test_read_mask_example_is_the_shipped_outline():
    ex = lm.read_mask("example")
    ref = lm.read_mask(lm.example_file("example_particle.png"), pixel_size=lm.EXAMPLE_PIXEL_SIZE)
    xr.testing.assert_identical(ex, ref)
    assert float(ex.x[1] - ex.x[0]) == lm.EXAMPLE_PIXEL_SIZE and ex.x.attrs["units"] == "m"
    wide = lm.read_mask("example", pixel_size="100 nm")
    np.testing.assert_allclose(wide.x.values, 2 * ex.x.values, rtol=1e-12)


# ------------------------------------------------------------ property-based damaged copies


@damaged_copies(FILES["nc"], max_examples=40)
def test_damaged_netcdf_result_fails_cleanly(path):
    check_reader(lm.read_result, path)
    check_reader(lm.read_mask, path)


def test_damaged_netcdf_headers_fail_cleanly(tmp_path):
    """Damage inside the HDF5 metadata (the first 2 KB), where h5netcdf used to fail half-way."""
    copies = _flipped(FILES["nc"], tmp_path, range(40, 2048, 67))
    failing = _failing(lm.read_result, copies)
    assert len(failing) >= len(copies) // 2, "damage in the header should mostly be refused"
    for p in copies:
        check_reader(lm.read_mask, p)


@damaged_stores(FILES["zarr"], max_examples=30)
def test_damaged_zarr_result_fails_cleanly(path):
    check_reader(lm.read_result, path)
    check_reader(lm.read_mask, path)


@damaged_copies(FILES["absorbance"], max_examples=30)
def test_damaged_absorbance_fails_cleanly(path):
    check_reader(lm.read_spectra, path)
    check_reader(lm.read_absorbance, path)


@damaged_copies(GITT, FILES["calibration"], max_examples=40)
def test_damaged_csv_tables_fail_cleanly(path):
    for required in ((), ("total_contrast", "theta") if path.name == "calibration.csv" else ("Time [s]",)):
        got = check_reader(lm.read_columns, path, required)
        if got is not None:
            fields, rows = got
            assert isinstance(fields, list) and all(isinstance(f, str) for f in fields)
            assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
            assert all(c in fields for c in required)


@pytest.mark.parametrize("how", ["binary", "latin1", "empty"])
def test_unreadable_csv_is_one_line(tmp_path, how):
    p = tmp_path / "calibration.csv"
    p.write_bytes({"binary": b"\xff\xfe\x00\x81" * 20, "latin1": b"total_contrast,th\xe9ta\n0.1,0.9\n",
                   "empty": b""}[how])
    with pytest.raises(lm.LithmapError, match="calibration.csv") as info:
        lm.read_columns(p, ["total_contrast", "theta"], what="calibration table")
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ through the commands


def test_damaged_result_through_simulate_and_contrast(tmp_path):
    """The honest check: `lithmap` in a fresh interpreter, stderr as the user sees it."""
    copies = _failing(lm.read_mask, _flipped(FILES["nc"], tmp_path, range(100, 2048, 240)))
    assert len(copies) >= 4
    cut = tmp_path / "cut.nc"
    cut.write_bytes(damage(FILES["nc"].read_bytes(), "truncate", 0.5, 1, 0))
    copies.append(cut)
    cases = []
    for k, p in enumerate(copies):
        out = tmp_path / f"sim{k}.nc"
        cases.append((["simulate", "--shape", p, *PROTOCOL, "--out", out], [out]))
        out = tmp_path / f"con{k}.nc"
        cases.append((["contrast", "example", "--mask", p, "--out", out], [out]))
    results = check_cli_batch(cases)
    assert all(code != 0 for code, _, _ in results)
    assert all(p.name in err for (code, _, err), p in zip(results[::2], copies))
    out = tmp_path / "real.nc"  # one run through the real entry point, to the interpreter's exit
    res = check_cli(["simulate", "--shape", copies[0], *PROTOCOL, "--out", out], [out])
    assert res.returncode != 0 and "not a readable NetCDF file" in res.stderr


def test_damaged_zarr_result_through_simulate(tmp_path):
    stores = []
    for name, how, where in ((".zmetadata", "truncate", 0.5), (".zmetadata", "overwrite", 0.02),
                             ("mask/0.0", "truncate", 0.5), ("mask/0.0", "overwrite", 0.0)):
        p = tmp_path / f"s{len(stores)}" / "contrast.zarr"
        shutil.copytree(FILES["zarr"], p)
        (p / name).write_bytes(damage((p / name).read_bytes(), how, where, 16, 0x7B))
        stores.append(p)
    stores = _failing(lm.read_mask, stores)
    assert len(stores) >= 2
    cases = [(["simulate", "--shape", p, *PROTOCOL, "--out", p.parent / "sim.nc"], [p.parent / "sim.nc"])
             for p in stores]
    results = check_cli_batch(cases)
    assert all(code != 0 and "Zarr" in err for code, _, err in results)


def test_damaged_absorbance_through_lcf(tmp_path):
    std = ["--standard", f"{XANES}/MnO_rt_01.xdi:2", "--standard", f"{XANES}/MnO2_rt_01.xdi:4"]
    copies = _failing(lm.read_spectra, _flipped(FILES["absorbance"], tmp_path, range(60, 2048, 330)))
    cut = tmp_path / "cut.nc"
    cut.write_bytes(FILES["absorbance"].read_bytes()[:700])
    copies.append(cut)
    assert len(copies) >= 3
    cases = [(["lcf", *std, p, "--out", tmp_path / f"lcf{k}.nc"],
              [tmp_path / f"lcf{k}.nc", tmp_path / f"lcf{k}.png"]) for k, p in enumerate(copies)]
    results = check_cli_batch(cases)
    assert all(code != 0 and "not a readable NetCDF/HDF5 file" in err for code, _, err in results)
