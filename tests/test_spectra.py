"""Spectra readers and pre-processing (issue: X-ray spectro-microscopy).

Real data: Mn K-edge transmission XANES from the XAS Data Library (tests/data/xanes-standards,
CC0). The Athena project, TIFF stacks and NetCDF/HDF5 files are written here by hand.
"""

import gzip
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import xarray as xr

from lithmap.errors import LithmapError
from lithmap.io import read_prj, read_spectra, read_tiff_stack, read_xdi
from lithmap.spectro import align, find_e0, interpolate_standards, normalise, select_window

DATA = Path(__file__).parent / "data" / "xanes-standards"
MNO = DATA / "MnO_rt_01.xdi"


def raw_columns(path):
    a = np.loadtxt(path, comments="#")
    return a[:, 0], a[:, 1], a[:, 2], a[:, 3]


# --------------------------------------------------------------------------------------- XDI


def test_xdi_mu_and_reference_from_raw_columns():
    ds = read_xdi(MNO)
    e, i0, it, ir = raw_columns(MNO)
    assert ds.sizes["energy"] == 217 and ds["energy"].attrs["units"] == "eV"
    np.testing.assert_allclose(ds["energy"], e)
    np.testing.assert_allclose(ds["mu"], np.log(i0 / it), rtol=1e-14)
    np.testing.assert_allclose(ds["mu_ref"], np.log(it / ir), rtol=1e-14)
    assert ds.attrs["element"] == "Mn" and ds.attrs["edge"] == "K" and ds.attrs["sample_name"] == "MnO"
    # the edge is a rise of mu: the Mn K edge (6539 eV) lies inside the scan
    assert float(ds.mu.sel(energy=6600, method="nearest")) > float(ds.mu.sel(energy=6525, method="nearest")) + 0.1


def test_xdi_mu_column_is_used_and_kev_converted(tmp_path):
    p = tmp_path / "s.xdi"
    p.write_text("# XDI/1.0\n# Column.1: energy keV\n# Column.2: mutrans\n# Element.symbol: Ni\n# ///\n#----\n"
                 "# energy mutrans\n8.30 0.10\n8.31 0.20\n8.32 0.90\n")
    ds = read_xdi(p)
    np.testing.assert_allclose(ds["energy"], [8300, 8310, 8320])
    np.testing.assert_allclose(ds["mu"], [0.1, 0.2, 0.9])
    assert "mu_ref" not in ds


def test_xdi_energies_not_increasing_names_file_and_index(tmp_path):
    p = tmp_path / "bad.xdi"
    p.write_text("# Column.1: energy eV\n# Column.2: mu\n6500 0.1\n6501 0.2\n6501 0.3\n6503 0.4\n")
    with pytest.raises(LithmapError, match=r"bad\.xdi.*not strictly increasing at index 2 \(6501 eV then 6501 eV\)"):
        read_xdi(p)


def test_xdi_without_mu_or_intensities(tmp_path):
    p = tmp_path / "cols.xdi"
    p.write_text("# Column.1: energy eV\n# Column.2: foo\n6500 0.1\n6501 0.2\n")
    with pytest.raises(LithmapError, match="neither a mu column.*columns: energy, foo"):
        read_xdi(p)


# ----------------------------------------------------------------------------- Athena project


def _perl_list(values):
    return "(" + ",".join(f"'{v}'" if isinstance(v, str) else f"'{float(v)!r}'" for v in values) + ")"


def write_prj(path, groups, *, gz=False):
    """A small Athena project in Demeter's Data::Dumper layout (written by hand: no real .prj
    is available). ``groups``: [(id, label, eshift, x, y, i0), ...]."""
    lines = ["# Athena project file -- Demeter version 0.9.26", "# This file created at 2024-11-03T12:00:00",
             "# Using Demeter 0.9.26 with perl 5.030000", "", "@journal = ();", ""]
    for gid, label, eshift, x, y, i0 in groups:
        args = ["bkg_e0", "6544.0", "bkg_eshift", str(eshift), "datatype", "xmu", "is_xmu", "1", "label", label]
        lines += [f"$old_group = '{gid}';", f"@args = {_perl_list(args)};", f"@x = {_perl_list(list(x))};",
                  f"@y = {_perl_list(list(y))};", f"@i0 = {_perl_list(list(i0))};", "@signal = ();",
                  "@stddev = ();", "[record] # create object and set arrays in ifeffit", ""]
    lines += ["@plot_features = ('bkg_eshift','0');", "@lcf_data = ();", "", "1;", ""]
    text = "\n".join(lines).encode()
    path.write_bytes(gzip.compress(text) if gz else text)


@pytest.mark.parametrize("gz", [False, True])
def test_prj_energy_shift_is_applied_and_groups_selected(tmp_path, gz):
    e, i0, it, _ = raw_columns(MNO)
    mu = np.log(i0 / it)
    p = tmp_path / "standards.prj"
    write_prj(p, [("abcde", "MnO std", 1.5, e, mu, i0), ("fghij", "Mn2O3", -2.25, e, 2 * mu, i0)], gz=gz)
    first = read_prj(p)
    assert first.attrs["group"] == "MnO std" and first.attrs["energy_shift"] == 1.5
    np.testing.assert_allclose(first["energy"], e + 1.5)  # the shift moves the energies
    np.testing.assert_allclose(first["mu"], mu)
    np.testing.assert_allclose(first["i0"], i0)
    assert first.attrs["e0"] == pytest.approx(6545.5)
    second = read_spectra(f"{p}:Mn2O3")
    np.testing.assert_allclose(second["energy"], e - 2.25)
    np.testing.assert_allclose(second["mu"], 2 * mu)
    assert read_prj(p, "fghij").attrs["group"] == "Mn2O3"  # Athena's internal id also selects
    with pytest.raises(LithmapError, match="no group 'MnO2'; groups: MnO std, Mn2O3"):
        read_prj(p, "MnO2")


def test_prj_without_groups(tmp_path):
    p = tmp_path / "empty.prj"
    p.write_text("# Athena project file\n@journal = ();\n1;\n")
    with pytest.raises(LithmapError, match="empty.prj.*no Athena groups"):
        read_prj(p)


# ------------------------------------------------------------------------------ plain text


def test_two_column_text_skips_comments(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("# energy mu\n# a comment\n6500.0  0.10\n6501.5, 0.25\n\n6503.0\t0.40\n")
    ds = read_spectra(p)
    np.testing.assert_allclose(ds["energy"], [6500.0, 6501.5, 6503.0])
    np.testing.assert_allclose(ds["mu"], [0.10, 0.25, 0.40])


def test_text_decreasing_energies(tmp_path):
    p = tmp_path / "down.dat"
    p.write_text("6503 0.1\n6502 0.2\n")
    with pytest.raises(LithmapError, match=r"down\.dat.*index 1 \(6503 eV then 6502 eV\)"):
        read_spectra(p)


# ------------------------------------------------------------------------------ TIFF stacks


def test_tiff_stack_optical_density_from_scalar_and_flat_field_i0(tmp_path):
    rng = np.random.default_rng(1)
    od = rng.uniform(0.1, 2.0, (5, 6, 7))
    i0 = np.array([1000.0, 1100.0, 900.0, 950.0, 1020.0])
    flat = i0[:, None, None] * rng.uniform(0.8, 1.2, (5, 6, 7))
    energies = tmp_path / "energies.txt"
    energies.write_text("# eV\n6530\n6540\n6545\n6550\n6570\n")
    tifffile.imwrite(tmp_path / "i_scalar.tif", (i0[:, None, None] * np.exp(-od)).astype(np.float32))
    tifffile.imwrite(tmp_path / "i_flat.tif", (flat * np.exp(-od)).astype(np.float32))
    tifffile.imwrite(tmp_path / "flat.tif", flat.astype(np.float32))
    tifffile.imwrite(tmp_path / "od.tif", od.astype(np.float32))

    da = read_tiff_stack(tmp_path / "i_scalar.tif", energies, i0=i0)
    assert da.name == "absorbance" and da.dims == ("energy", "y", "x")
    np.testing.assert_allclose(da["energy"], [6530, 6540, 6545, 6550, 6570])
    np.testing.assert_allclose(da, od, rtol=1e-5)
    ds = read_spectra(tmp_path / "i_flat.tif", energies=energies, i0=tmp_path / "flat.tif")
    np.testing.assert_allclose(ds["mu"], od, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(read_spectra(tmp_path / "od.tif", energies=energies)["mu"], od, rtol=1e-6)


def test_tiff_stack_energy_errors(tmp_path):
    tifffile.imwrite(tmp_path / "s.tif", np.ones((3, 4, 4), np.float32), photometric="minisblack")
    (tmp_path / "e4.txt").write_text("1\n2\n3\n4\n")
    (tmp_path / "e_bad.txt").write_text("6540\n6541\n6539.5\n")
    with pytest.raises(LithmapError, match="needs its energies"):
        read_spectra(tmp_path / "s.tif")
    with pytest.raises(LithmapError, match="e4.txt' has 4 energies but the stack has 3 images"):
        read_spectra(tmp_path / "s.tif", energies=tmp_path / "e4.txt")
    with pytest.raises(LithmapError, match=r"e_bad.txt.*index 2 \(6541 eV then 6539.5 eV\)"):
        read_spectra(tmp_path / "s.tif", energies=tmp_path / "e_bad.txt")


# ---------------------------------------------------------------------------- NetCDF / HDF5


def test_netcdf_absorbance_2d_and_3d_and_plain_hdf5(tmp_path):
    rng = np.random.default_rng(2)
    e = np.array([6530.0, 6540.0, 6550.0, 6560.0])
    a3 = rng.random((4, 3, 5))
    xr.Dataset({"absorbance": (("energy", "y", "x"), a3)},
               coords={"energy": ("energy", e, {"units": "eV"})}).to_netcdf(tmp_path / "map.nc", engine="h5netcdf")
    ds = read_spectra(tmp_path / "map.nc")
    assert ds["mu"].dims == ("energy", "y", "x")
    np.testing.assert_allclose(ds["mu"], a3)
    # a volume stored (z, y, x, energy) in keV comes back energy-first in eV
    a4 = rng.random((2, 3, 5, 4))
    xr.Dataset({"absorbance": (("z", "y", "x", "energy"), a4)},
               coords={"energy": ("energy", e / 1000, {"units": "keV"})}).to_netcdf(tmp_path / "vol.nc",
                                                                                   engine="h5netcdf")
    vol = read_spectra(tmp_path / "vol.nc")["mu"]
    assert vol.dims == ("energy", "z", "y", "x")
    np.testing.assert_allclose(vol["energy"], e)
    np.testing.assert_allclose(vol, np.moveaxis(a4, -1, 0))
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["absorbance"] = a3
        f["energy"] = e
    np.testing.assert_allclose(read_spectra(tmp_path / "plain.h5")["mu"], a3)


def test_netcdf_without_absorbance(tmp_path):
    xr.Dataset({"od": (("energy", "y", "x"), np.ones((2, 2, 2)))},
               coords={"energy": [1.0, 2.0]}).to_netcdf(tmp_path / "x.nc", engine="h5netcdf")
    with pytest.raises(LithmapError, match="no dataset 'absorbance'.*od"):
        read_spectra(tmp_path / "x.nc")


def test_dispatcher_errors(tmp_path):
    (tmp_path / "s.xyz").write_text("1 2\n")
    with pytest.raises(LithmapError, match=r"s\.xyz' has an unknown format '\.xyz'"):
        read_spectra(tmp_path / "s.xyz")
    with pytest.raises(LithmapError, match=r"missing\.xdi' does not exist"):
        read_spectra(tmp_path / "missing.xdi")


# ----------------------------------------------------------------------------- normalisation


def synthetic_edges(e, e0, step, slope_pre, slope_post, offset):
    """Straight pre-edge line, then an edge, then a straight post-edge line: the normalisation
    ranges see exact lines, so the edge step must come back to rounding."""
    x = e[None, :] - e0[:, None]
    edge = 0.5 * (1 + np.tanh(x))  # < 1e-12 below e0 − 15 eV, 1 above e0 + 50 eV
    return offset[:, None] + slope_pre[:, None] * x + edge * (step[:, None] + slope_post[:, None] * x), edge


def test_normalise_recovers_edge_step_vectorised():
    rng = np.random.default_rng(3)
    e = np.linspace(6450, 6750, 301)
    e0 = rng.choice(e[140:160], size=24)  # per-spectrum edges on the grid
    step = rng.uniform(0.2, 2.0, 24)
    slope_post = rng.normal(0, 1e-3, 24)
    mu, edge = synthetic_edges(e, e0, step, rng.normal(0, 1e-3, 24), slope_post, rng.uniform(0, 1, 24))
    normed, e0_found, st = normalise(mu.reshape(4, 6, -1), e, return_edge=True)
    assert normed.shape == (4, 6, 301) and e0_found.shape == (4, 6)
    np.testing.assert_allclose(e0_found.ravel(), e0)  # largest derivative = the edge centre
    np.testing.assert_allclose(st.ravel(), step, rtol=1e-9)
    x = e[None, :] - e0[:, None]
    expect = edge * (step[:, None] + slope_post[:, None] * x) / step[:, None]
    np.testing.assert_allclose(normed.reshape(24, -1), expect, atol=1e-9)
    # the energy axis may be anywhere; one spectrum alone gives the same
    first = normalise(xr.DataArray(np.moveaxis(mu.reshape(4, 6, -1), -1, 0), dims=("energy", "y", "x"),
                                   coords={"energy": e}), dim="energy")
    np.testing.assert_allclose(np.moveaxis(first.values, 0, -1), normed, rtol=1e-12, atol=1e-12)
    one = normalise(mu[5], e)
    np.testing.assert_allclose(one, normed.reshape(24, -1)[5], rtol=1e-12, atol=1e-12)
    # a common e0 for all spectra (maps): the ranges follow it
    common = normalise(mu, e, e0=float(e0[0]), return_edge=True)[2]
    assert common[0] == pytest.approx(step[0], rel=1e-9)


def test_normalise_real_spectrum_and_dataarray():
    ds = read_xdi(MNO)
    da, e0, step = normalise(ds["mu"], return_edge=True)
    assert isinstance(da, xr.DataArray) and da.dims == ("energy",)
    assert 6543 < float(e0) < 6546  # MnO: the main rise of the Mn K edge, ~6544 eV
    assert abs(float(da.sel(energy=slice(6520, 6530)).mean())) < 0.01
    assert abs(float(da.sel(energy=slice(6560, 6630)).mean()) - 1.0) < 0.05  # oscillates about 1
    assert 0.1 < float(step) < 0.15  # mu rises by ~0.12 across the edge (raw data)


def test_normalise_range_outside_data():
    e = np.linspace(6530, 6600, 71)
    mu = 0.5 * (1 + np.tanh((e - 6545) / 2))
    with pytest.raises(LithmapError, match=r"pre range e0-60..e0-40 eV holds 0 energies.*6530-6600 eV"):
        normalise(mu, e, e0=6545.0, pre=(-60, -40))
    with pytest.raises(LithmapError, match=r"pre range e0-60..e0-15 eV holds 1 energies"):
        normalise(mu, e, e0=6545.0, pre=(-60, -15))
    # the defaults fall back as Larch's do: here a pre-edge line over e0-15..e0-7.5 eV
    assert abs(normalise(mu, e, e0=6545.0)[-1] - 1.0) < 0.01
    with pytest.raises(LithmapError, match="e0='auto' is invalid"):
        normalise(mu, e, e0="auto")
    with pytest.raises(LithmapError, match="norm_order=3"):
        normalise(mu, e, norm_order=3)
    background = np.full((2, 71), 0.3)  # no edge: NaN, not an error, for a map's empty pixels
    assert np.isnan(normalise(background, e, e0=6545.0, pre=(-15, -5))).all()


def larch_numbers():
    """Larch's pre_edge (all defaults) on every scan here: tests/data/xanes-standards/larch_pre_edge.csv,
    written by make_larch_pre_edge.py in that folder (xraylarch 2026.3.1)."""
    import csv

    with (DATA / "larch_pre_edge.csv").open() as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    out = {}
    for r in rows:
        d = out.setdefault(r["file"], {"e0": float(r["e0"]), "edge_step": float(r["edge_step"]), "index": [],
                                       "norm": [], "flat": []})
        d["index"].append(int(r["index"]))
        d["norm"].append(float(r["norm"]))
        d["flat"].append(float(r["flat"]))
    return out


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.xdi")))
def test_normalise_equals_larch_pre_edge_on_the_real_standards(name):
    """e0, edge step, normalised and flattened spectrum as Larch's pre_edge gives them. Tolerance
    1e-8: the same fit (same points, same polynomials), so only rounding and the 10 significant
    digits stored in the CSV separate them."""
    larch = larch_numbers()[name]
    mu = read_xdi(DATA / name)["mu"]
    norm, e0, step = normalise(mu, e0="larch", return_edge=True)
    assert float(e0) == pytest.approx(larch["e0"], abs=1e-6)  # the same grid energy
    assert float(step) == pytest.approx(larch["edge_step"], rel=1e-8)
    idx = larch["index"]
    np.testing.assert_allclose(norm.values[idx], larch["norm"], rtol=0, atol=1e-8)
    flat = normalise(mu, e0="larch", flatten=True)
    np.testing.assert_allclose(flat.values[idx], larch["flat"], rtol=0, atol=1e-8)
    assert flat.attrs["long_name"] == "flattened normalised absorption"
    # the vectorised default e0 (largest 2 eV-smoothed derivative) is within 0.7 eV of Larch's on
    # 9 of the 12 scans; on Mn2O3, whose derivative has two nearly equal maxima, it is 2.0-2.3 eV
    # lower (hence e0="larch" for standards): the edge step then differs by up to 6 %
    own, own_step = normalise(mu, return_edge=True)[1:]
    limit = (2.4, 0.07) if name.startswith("Mn2O3") else (0.7, 0.01)
    assert abs(float(own) - larch["e0"]) <= limit[0]
    assert abs(float(own_step) / larch["edge_step"] - 1) <= limit[1]


def test_find_e0_larch_rule_and_a_map_normalised_like_its_spectra():
    mu = read_xdi(MNO)["mu"]
    assert float(find_e0(mu, method="larch")) == pytest.approx(larch_numbers()[MNO.name]["e0"], abs=1e-6)
    with pytest.raises(LithmapError, match="method='max' is invalid"):
        find_e0(mu, method="max")
    # several spectra at once (per-spectrum e0 by Larch's rule) equal one at a time
    two = xr.concat([mu, 2 * mu + 0.1], dim="pixel")
    both, e0s, steps = normalise(two, e0="larch", return_edge=True)
    one, e0_1, step_1 = normalise(mu, e0="larch", return_edge=True)
    np.testing.assert_allclose(both.isel(pixel=1), one, rtol=0, atol=1e-12)
    np.testing.assert_allclose(steps, [float(step_1), 2 * float(step_1)], rtol=1e-12)


# ------------------------------------------------------------------------------- alignment


@pytest.mark.parametrize("shift", [-1.3, 0.0, 0.45, 2.2])
def test_align_recovers_known_shift_of_real_reference(shift):
    ds = read_xdi(MNO)
    e, ref = ds["energy"].values, ds["mu_ref"].values
    # the same foil spectrum recorded with a calibration off by `shift`
    found = align(e + shift, ref, ref, e, window=(6529, 6560))
    assert found == pytest.approx(-shift, abs=0.02)


def test_align_between_real_scans_is_small():
    a, b = read_xdi(DATA / "MnO_rt_01.xdi"), read_xdi(DATA / "MnO_rt_02.xdi")
    s = align(b["energy"].values, b["mu_ref"].values, a["mu_ref"].values, a["energy"].values, window=(6529, 6544))
    assert abs(s) < 0.3  # same beamline session: the foil agrees to a fraction of an eV


def test_align_errors():
    e = np.linspace(6500, 6600, 101)
    with pytest.raises(LithmapError, match="flat"):
        align(e, np.ones_like(e), np.ones_like(e))
    with pytest.raises(LithmapError, match="window 6700-6800 eV holds 0 energies"):
        align(e, np.tanh(e - 6550), np.tanh(e - 6550), window=(6700, 6800))


# --------------------------------------------------------------------- window, interpolation


def test_select_window_and_interpolation_never_extrapolate():
    mno, mn2o3 = read_xdi(MNO)["mu"], read_xdi(DATA / "Mn2O3_rt_01.xdi")["mu"]
    sample = select_window(read_xdi(DATA / "Mn3O4_rt_01.xdi")["mu"], 6535, 6570)
    assert float(sample.energy.min()) >= 6535 and float(sample.energy.max()) <= 6570
    std = interpolate_standards({"MnO": mno, "Mn2O3": mn2o3}, sample.energy)
    assert std.dims == ("energy", "standard") and list(std.standard.values) == ["MnO", "Mn2O3"]
    # same grid: interpolation returns the measured values
    np.testing.assert_allclose(std.sel(standard="MnO"), mno.sel(energy=sample.energy), rtol=1e-12)
    shifted = mn2o3.assign_coords(energy=mn2o3.energy + 20.0)  # starts at 6540 eV
    with pytest.raises(LithmapError,
                       match=r"standard 'Mn2O3' covers 6540-6649.98 eV but the window needs 6535.02-6569.65 eV"):
        interpolate_standards({"MnO": mno, "Mn2O3": shifted}, sample.energy)
    with pytest.raises(LithmapError, match="window 7000:7100 eV holds 0 energies"):
        select_window(mno, 7000, 7100)


def test_a_nexus_nxdata_stack_is_read_with_its_energy_axis(tmp_path):
    import h5py

    from lithmap.io import read_spectra

    e_kev = np.linspace(6.53, 6.58, 12)
    stack = np.random.default_rng(0).random((12, 3, 4))
    p = tmp_path / "scan.nxs.h5"
    with h5py.File(p, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs.update(NX_class="NXdata", signal="optical_density", axes=["photon_energy", ".", "."])
        data["optical_density"] = stack
        data["photon_energy"] = e_kev
        data["photon_energy"].attrs["units"] = "keV"
    ds = read_spectra(p)
    np.testing.assert_allclose(ds.energy.values, e_kev * 1000)
    np.testing.assert_array_equal(ds.mu.transpose("energy", ...).values, stack)
