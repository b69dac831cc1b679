"""`lithmap report` / lithmap.build_report: real lithmap results of every kind in, one HTML page out whose
captions carry the files' numbers, whose images all exist (PNG with SVG beside), whose data/ holds those
numbers and copies of the inputs; bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import csv
import math
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from PIL import Image
from typer.testing import CliRunner

import lithmap as lm
from cli_checks import one_line_error
from lithmap.cli import app
from lithmap.errors import LithmapError
from lithmap.report import html as report_html
from lithmap.report import style

ROOT = Path(__file__).resolve().parents[1]
STANDARDS = [f"{lm.example_file(f)}:{v}" for f, v in
             (("MnO_rt_01.xdi", 2), ("Mn2O3_rt_01.xdi", 3), ("MnO2_rt_01.xdi", 4))]
runner = CliRunner()


def _cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def _absorbance_map() -> xr.DataArray:
    """24×24 optical density: an elliptical particle of MnO-, Mn2O3- and MnO2-rich bands (from the shipped
    standards), thickness rising ×3 across it, 1 % noise, an empty background."""
    mus = [lm.read_spectra(lm.example_file(f"{n}_rt_01.xdi"))["mu"] for n in ("MnO", "Mn2O3", "MnO2")]
    e = mus[2]["energy"].values
    spectra = np.stack([np.interp(e, m["energy"].values, lm.normalise(m).values) for m in mus])
    y, x = np.mgrid[:24, :24]
    inside = ((y - 11.5) / 11) ** 2 + ((x - 11.5) / 11.5) ** 2 <= 1
    phase = np.clip(y // 8, 0, 2)
    t = np.where(inside, 1 + 2 * x / 23, 0.0)
    rng = np.random.default_rng(3)
    od = t[None] * (0.5 * spectra[phase].transpose(2, 0, 1) + 0.3) + 0.02
    od += rng.normal(size=od.shape) * 0.005 * np.where(inside, t, 1.0)[None]
    coords = {"energy": ("energy", e, {"units": "eV"}), "y": ("y", np.arange(24) * 50e-9, {"units": "m"}),
              "x": ("x", np.arange(24) * 50e-9, {"units": "m"})}
    return xr.DataArray(od, dims=("energy", "y", "x"), coords=coords, name="absorbance")


def _composition():
    """16×16 Mn, Ni, O optical densities at two energies each (xraydb), an oxygen-rich corner."""
    from lithmap.spectro.composition import mass_attenuation

    mol, amass = {"Mn": 0.56, "Ni": 0.16, "O": 2.0}, {"Mn": 54.938e-3, "Ni": 58.693e-3, "O": 15.999e-3}
    n = np.zeros((16, 16))
    n[3:13, 3:13] = 1.0
    o = np.ones_like(n)
    o[3:7, 3:7] = 1.3
    dens = {el: 1e-5 * n * mol[el] * amass[el] * (o if el == "O" else 1) for el in mol}
    energies = {"Mn": (635.0, 650.0), "Ni": (845.0, 860.0), "O": (526.0, 550.0)}
    images = {el: [sum(float(mass_attenuation(k, e)) * dens[k] for k in mol) for e in pair]
              for el, pair in energies.items()}
    return lm.composition_maps(images, energies, threshold="8%", path_length="25nm", pixel_size="25nm")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One small real result of every kind, written as the commands write them."""
    d = tmp_path_factory.mktemp("results")
    f = {}
    f["simulation"] = lm.write_result(lm.simulate("sphere:1um", "Charge at 1C for 3 minutes", material="nmc811",
                                                  times=30.0), d / "sphere.nc")
    f["simulation_2d"] = lm.write_result(lm.simulate("disc:0.5um", "Charge at C/3 for 5 minutes", diffusivity=1e-16,
                                                     times=60.0), d / "disc.nc")
    contrast = lm.analyse_movie("example", rate="C/3", material="nmc811")
    f["contrast"] = lm.write_result(contrast, d / "movie.nc")
    fit = lm.fit_alpha(contrast.isel(time=slice(0, 6)), material="nmc811", rate="C/3", psf="177nm", bounds=(1, 8),
                       n_scan=3, rtol=0.05)
    f["fit"] = lm.write_result(fit, d / "fit.nc")
    pulses = lm.read_cycler([lm.example_file(f"gitt_pulse_{k}.csv") for k in range(1, 7)],
                            columns={"voltage": "Positive electrode potential [V]"})
    f["gitt"] = lm.write_gitt_csv(lm.analyse_gitt(pulses, radius="5.22um"), d / "gitt.csv")
    f["cycles"] = lm.write_cycles_csv(lm.analyse_cycles(lm.read_cycler(lm.example_file("test.ndax"), mass="5mg")),
                                      d / "cycles.csv")
    f["lcf"] = lm.write_result(lm.lcf_from_files(lm.example_file("Mn3O4_rt_02.xdi"), STANDARDS,
                                                 window="6535:6580eV"), d / "lcf_Mn3O4.nc")
    absorbance = _absorbance_map()
    xr.Dataset({"absorbance": absorbance}).to_netcdf(d / "map_absorbance.nc", engine="h5netcdf")
    lcf_map = lm.lcf_from_files(str(d / "map_absorbance.nc"), STANDARDS)
    f["lcf_map"] = lm.write_result(lcf_map, d / "lcf_map.nc")
    f["clusters"] = lm.write_result(lm.spectral_clusters(absorbance, 3), d / "clusters.nc")
    sh = lm.shell_statistics(lcf_map["mean_valence"], lcf_map["mask"].values.astype(bool), 5)
    table = lm.shell_table(sh)
    f["shells"] = lm.write_table(d / "shells.csv", list(table.columns), table.itertuples(index=False))
    ph = lm.particle_phantom(24, void=0, inclusions=0, pores=1, pore_radius=0.2, pixel_size="10nm", seed=2)
    f["reconstruction"] = lm.write_result(lm.reconstruct(lm.project(ph["volume"], np.arange(-65, 66, 5.0)),
                                                         iterations=10), d / "volume.nc")
    f["pores"] = lm.write_result(lm.pore_analysis(ph["volume"], threshold=0.01, min_voxels=1), d / "pores.nc")
    f["composition"] = lm.write_result(_composition(), d / "composition.nc")
    f["stress"] = lm.write_result(lm.simulate_stress("sphere:4um", "Discharge at 1C for 72 seconds", material="lrtmo",
                                                     theta0=0.338, times=12.0), d / "stress.nc")
    f["sweep"] = lm.write_result(lm.sweep(radius=[0.5e-6, 1e-6], alpha=[1.0, 3.0], rate=[0.5, 1.0],
                                          protocol="Charge at {rate} for 5 minutes", diffusivity=1e-16),
                                 d / "sweep.nc")
    for suffix in (".png", ".txt"):
        shutil.copy(ROOT / "examples" / "figures" / f"study_alpha{suffix}", d / f"study_alpha{suffix}")
    f["figure"] = d / "study_alpha.png"
    return d, f


KIND_OF = {"simulation": "simulation", "simulation_2d": "simulation", "contrast": "contrast", "fit": "fit",
           "gitt": "gitt", "cycles": "cycles", "lcf": "lcf", "lcf_map": "lcf", "clusters": "clusters",
           "shells": "shells", "reconstruction": "reconstruction", "stress": "stress", "sweep": "sweep",
           "figure": "figure", "pores": "pores", "composition": "composition"}


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):
    d, f = results
    out = tmp_path_factory.mktemp("report") / "report"
    page = lm.build_report([d], out, title="All kinds")
    return out, page.read_text(encoding="utf-8")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.img, self.href, self.ids, self.tags = [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.img.append(a["src"])
        if "href" in a:
            self.href.append(a["href"])
        if "id" in a:
            self.ids.append(a["id"])


def _summary(out) -> list[dict]:
    return list(csv.DictReader((Path(out) / "data" / "summary.csv").open(encoding="utf-8")))


def _rows(path) -> list[dict]:
    return list(csv.DictReader(Path(path).open(encoding="utf-8")))


def test_each_kind_is_recognised_from_its_variables(results):
    _, f = results
    for key, path in f.items():
        assert report_html.report_kind(path) == KIND_OF[key], key


def test_page_images_exist_relative_png_with_svg_no_script(report):
    out, text = report
    links = _Links()
    links.feed(text)
    assert len(links.img) >= 25
    assert "script" not in links.tags and "://" not in text.replace("data:,", "")
    assert len(links.ids) == len(set(links.ids)), "duplicate ids"
    for src in links.img:
        assert not src.startswith("/") and ".." not in src, src
        with Image.open(out / src) as im:  # loads: the browser's naturalWidth > 0
            assert im.size[0] > 50 and im.size[1] > 50, src
        if src.endswith(".png") and "study_alpha" not in src:
            assert (out / src).with_suffix(".svg").stat().st_size > 1000, src
            assert Path(src).with_suffix(".svg").as_posix() in links.href
    for href in links.href:
        if not href.startswith("#") and href != "data:,":
            assert (out / href).exists(), href
    for kind in {"simulation", "sweep", "contrast", "fit", "gitt", "cycles", "lcf", "shells", "clusters",
                 "reconstruction", "stress", "figure", "pores", "composition"}:
        assert f'<section id="{kind}">' in text, kind
    assert "Xu, Merryweather et al., Joule 2022" in text and "Liu, Zeng et al., Nat. Nanotechnol. 2024" in text
    assert "seed" not in text.lower().replace("seed=", "")


@pytest.mark.skipif(not (shutil.which("chromium") or Path("/usr/bin/chromium").exists())
                    or not (shutil.which("chromedriver") or Path("/usr/bin/chromedriver").exists()),
                    reason="needs Debian's chromium and chromium-driver (tools/browser-deps.sh)")
def test_page_loads_in_headless_chromium_every_image_no_console_error(report):
    """Every kind on one page, opened as a user opens it (file://): each <img> loaded, nothing logged."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    out, _ = report
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=opts)
    try:
        driver.get((out / "index.html").as_uri())
        images = driver.execute_script("return Array.from(document.images).map("
                                       "i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
        logs = driver.get_log("browser")
    finally:
        driver.quit()
    assert len(images) >= 25
    assert [i for i in images if not (i[1] and i[2] > 0)] == []
    assert [entry for entry in logs if entry["level"] in ("SEVERE", "WARNING")] == []


def test_every_number_quoted_is_in_summary_csv_and_in_the_page(report):
    out, text = report
    rows = _summary(out)
    assert len(rows) > 60
    for r in rows:
        assert r["shown"] in text, r
        value = float(r["value"])
        if math.isfinite(value) and r["shown"] != "NaN":
            assert abs(float(r["shown"]) - value) <= 0.06 * abs(value) + 1e-12, r


def test_fit_caption_carries_alpha_and_its_interval(results, report):
    _, f = results
    out, text = report
    fit = lm.read_result(f["fit"])
    a, lo, hi = (float(fit[v]) for v in ("alpha", "alpha_low", "alpha_high"))
    assert f"α = {a:.4g} (95 % interval {lo:.4g}–{hi:.4g})" in text
    assert f"α {a:.4g} (95 % interval {lo:.4g}–{hi:.4g})" in text  # the "at a glance" table
    table = {r["quantity"]: float(r["value"]) for r in _rows(out / "data" / "fit_alpha.csv")}
    assert table["alpha"] == a and table["alpha_low"] == lo and table["alpha_high"] == hi
    curve = _rows(out / "data" / "fit_misfit_curve.csv")
    assert [float(r["alpha"]) for r in curve] == fit.alpha_grid.values.tolist()
    assert (out / "figures" / "fit_movie_vs_model.gif").exists()


def test_contrast_section_movie_and_traces(results, report):
    _, f = results
    out, text = report
    ds = lm.read_result(f["contrast"])
    with Image.open(out / "figures" / "movie_movie.gif") as gif:
        assert gif.n_frames > 10
    if shutil.which("ffmpeg"):
        assert (out / "figures" / "movie_movie.mp4").stat().st_size > 1000 and "figures/movie_movie.mp4" in text
    else:
        assert not (out / "figures" / "movie_movie.mp4").exists()
    rows = _rows(out / "data" / "movie_traces.csv")
    assert len(rows) == ds.sizes["time"]
    np.testing.assert_allclose([float(r["intensity_normalised"]) for r in rows], ds.intensity_normalised.values)
    assert f"{int(ds['mask'].values.sum())} pixels" in text
    assert f"×{float(ds.intensity_normalised.values[-1]):.4g}" in text
    th = np.where(ds["mask"].values.astype(bool), ds.theta.values[-1], np.nan)
    assert "figures/movie_theta_maps.png" in text and f"to {np.nanmean(th):.3f}" in text


def test_gitt_caption_gives_the_range_of_sound_pulses(results, report):
    _, f = results
    out, text = report
    rows = _rows(f["gitt"])
    d = np.array([float(r["diffusivity_m2_s"]) for r in rows if not r["flags"]])
    assert f"D from {d.min():.3g} to {d.max():.3g} m²/s (median {np.median(d):.3g} m²/s)" in text
    assert _rows(out / "data" / "gitt.csv") == rows


def test_cycles_caption_gives_ce_with_and_without_the_cv_hold(results, report):
    _, f = results
    _, text = report
    r = _rows(f["cycles"])[0]
    ce, ce_cc = 100 * float(r["coulombic_efficiency"]), 100 * float(r["coulombic_efficiency_cc"])
    assert abs(ce - ce_cc) > 1  # the CV hold matters in this record
    assert f"CE {ce:.1f} % with the CV hold, {ce_cc:.1f} % without it" in text


def test_lcf_captions_mean_valence_and_shells(results, report):
    _, f = results
    out, text = report
    single = lm.read_result(f["lcf"])
    assert f"mean oxidation state {float(single.mean_valence):.3f}" in text
    m = lm.read_result(f["lcf_map"])
    sh = lm.shell_statistics(m["mean_valence"], m["mask"].values.astype(bool), 5)
    rows = _rows(out / "data" / "lcf_map_shells.csv")
    np.testing.assert_allclose([float(r["mean"]) for r in rows], sh["mean"].values)
    for label, mean in zip(sh["label"].values, sh["mean"].values):
        assert f"{label} {mean:.3f}" in text
    assert f"mean valence {float(np.nanmean(m.mean_valence.values)):.3f}" in text


def test_stress_caption_gives_peak_hoop_stress_where_and_when(results, report):
    _, f = results
    out, text = report
    ds = lm.read_result(f["stress"])
    hoop = ds.hoop_stress.values
    k = np.unravel_index(np.nanargmax(np.abs(hoop)), hoop.shape)
    assert (f"peak hoop stress {hoop[k] / 1e6:.4g} MPa at r = {ds.r.values[k[1]] * 1e6:.3g} µm, "
            f"t = {ds.time.values[k[0]]:.4g} s") in text
    summary = {r["quantity"]: float(r["value"]) for r in _rows(out / "data" / "stress_summary.csv")}
    assert summary["peak_hoop_stress_Pa"] == hoop[k]


def test_clusters_reconstruction_sweep_shells_and_study(results, report):
    _, f = results
    out, text = report
    cl = lm.read_result(f["clusters"])
    for j in range(cl.sizes["cluster"]):
        assert f"cluster {j}: {100 * float(cl.cluster_fraction[j]):.1f} % of the pixels" in text
    vol = lm.read_result(f["reconstruction"])
    assert f"the particle holds {int(vol['mask'].values.sum())} voxels" in text
    sw = lm.read_result(f["sweep"])
    assert f"{sw.theta_mean_end.size} runs" in text
    assert len(_rows(out / "data" / "sweep_cases.csv")) == sw.theta_mean_end.size
    first = _rows(f["shells"])[0]
    assert f"{first['label']} {float(first['mean']):.4g}" in text
    study = (f["figure"]).with_suffix(".txt").read_text().strip().splitlines()[0]
    assert study.split(":")[0] in text
    assert (out / "figures" / "study_alpha.png").read_bytes() == f["figure"].read_bytes()


def test_composition_and_pores_captions(results, report):
    _, f = results
    _, text = report
    comp = lm.read_result(f["composition"])
    rich = float(comp.volume_fraction.sel(phase_name="oxygen_rich"))
    assert rich > 0 and f"oxygen-rich {100 * rich:.1f} %" in text
    pores = lm.read_result(f["pores"])
    assert int(pores.n_pores) >= 1
    assert f"porosity {100 * float(pores.porosity):.2f} %, {int(pores.n_pores)} pores" in text


def test_data_folder_rebuilds_the_report(results, tmp_path):
    """data/inputs holds the inputs; a report built from it quotes the same numbers."""
    _, f = results
    first = lm.build_report([f["lcf"], f["gitt"], f["cycles"], f["figure"]], tmp_path / "a")
    inputs = first.parent / "data" / "inputs"
    assert sorted(p.name for p in inputs.iterdir()) == ["cycles.csv", "gitt.csv", "lcf_Mn3O4.nc", "study_alpha.png",
                                                        "study_alpha.txt"]
    again = lm.build_report([inputs], tmp_path / "b")
    key = lambda rows: sorted((r["file"], r["quantity"], r["value"]) for r in rows)  # noqa: E731
    assert key(_summary(again.parent)) == key(_summary(first.parent))
    # a report folder given as a result stands for its inputs
    third = lm.build_report([again.parent], tmp_path / "c")
    assert key(_summary(third.parent)) == key(_summary(first.parent))


def test_two_results_of_one_name_are_kept_apart(results, tmp_path):
    _, f = results
    for sub in ("cell_a", "cell_b"):
        (tmp_path / sub).mkdir()
    shutil.copy(f["cycles"], tmp_path / "cell_a" / "cycles.csv")
    rows = _rows(f["cycles"])
    rows[0]["coulombic_efficiency"] = "0.5"
    with (tmp_path / "cell_b" / "cycles.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    page = lm.build_report([tmp_path / "cell_a", tmp_path / "cell_b"], tmp_path / "rep")
    assert sorted(p.name for p in (page.parent / "data" / "inputs").iterdir()) == ["cycles.csv", "cycles_2.csv"]
    ce = {r["file"]: r["shown"] for r in _summary(page.parent) if r["quantity"] == "coulombic_efficiency[1]"}
    assert ce == {"cycles.csv": f"{100 * float(_rows(f['cycles'])[0]['coulombic_efficiency']):.1f}",
                  "cycles_2.csv": "50.0"}


def test_folder_skips_lithmaps_own_pngs_and_lists_what_it_left_out(results, tmp_path):
    _, f = results
    d = tmp_path / "run"
    d.mkdir()
    shutil.copy(f["gitt"], d / "gitt.csv")
    shutil.copy(f["figure"], d / "gitt.png")  # what `lithmap gitt` writes beside gitt.csv
    (d / "notes.md").write_text("my notes\n")
    page = lm.build_report([d], tmp_path / "out")
    text = page.read_text()
    assert "figures/gitt.png" not in text and "Files not shown" in text and "notes.md" in text


def test_cli_equals_api(results, tmp_path):
    _, f = results
    res = _cli("report", f["cycles"], f["gitt"], "--out", tmp_path / "cli", "--title", "Mine")
    assert res.exit_code == 0, res.output
    assert str(tmp_path / "cli" / "index.html") in res.output
    api = lm.build_report([f["cycles"], f["gitt"]], tmp_path / "api", title="Mine")
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*"))  # noqa: E731
    assert files(tmp_path / "cli") == files(api.parent)
    assert _summary(tmp_path / "cli") == _summary(api.parent)
    assert "<title>Mine</title>" in (tmp_path / "cli" / "index.html").read_text()


def _nothing_written(parent: Path, name: str):
    assert not (parent / name).exists()
    assert not [p for p in parent.iterdir() if p.name.startswith(f".{name}.")], list(parent.iterdir())


@pytest.mark.parametrize("case, needles", [
    ("foreign_nc", ("foreign.nc", "is not a lithmap result", "absorbance")),
    ("text", ("notes.txt", "is not a lithmap result", "expected NetCDF/Zarr")),
    ("foreign_csv", ("table.csv", "is not a lithmap result table", "a, b")),
    ("empty_folder", ("empty", "is empty")),
    ("junk_folder", ("junk", "holds no lithmap results")),
    ("missing", ("nowhere.nc", "does not exist")),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, case, needles):
    src = tmp_path / "src"
    src.mkdir()
    if case == "foreign_nc":
        arg = src / "foreign.nc"
        xr.Dataset({"absorbance": ("x", np.arange(3.0))}).to_netcdf(arg, engine="h5netcdf")
    elif case == "text":
        arg = src / "notes.txt"
        arg.write_text("not a result\n")
    elif case == "foreign_csv":
        arg = src / "table.csv"
        arg.write_text("a,b\n1,2\n")
    elif case == "empty_folder":
        arg = src / "empty"
        arg.mkdir()
    elif case == "junk_folder":
        arg = src / "junk"
        arg.mkdir()
        (arg / "readme.md").write_text("hello\n")
        xr.Dataset({"absorbance": ("x", np.arange(3.0))}).to_netcdf(arg / "other.nc", engine="h5netcdf")
    else:
        arg = src / "nowhere.nc"
    one_line_error(_cli("report", arg, "--out", tmp_path / "rep"), *needles)
    _nothing_written(tmp_path, "rep")
    with pytest.raises(LithmapError):
        lm.build_report([arg], tmp_path / "rep")
    with pytest.raises(LithmapError, match="no results given"):
        lm.build_report([], tmp_path / "rep")
    _nothing_written(tmp_path, "rep")


def test_overwrite_refused_then_replaced_and_inputs_protected(results, tmp_path):
    _, f = results
    out = tmp_path / "rep"
    out.mkdir()
    lm.build_report([f["gitt"]], out)  # an existing EMPTY folder is fine
    (out / "mine.txt").write_text("keep me\n")
    one_line_error(_cli("report", f["cycles"], "--out", out), "rep", "not empty", "--overwrite")
    assert (out / "mine.txt").exists() and not (out / "data" / "cycles.csv").exists()
    res = _cli("report", f["cycles"], "--out", out, "--overwrite")
    assert res.exit_code == 0, res.output
    assert not (out / "mine.txt").exists() and (out / "data" / "cycles.csv").exists()
    assert not (out / "data" / "gitt.csv").exists()
    shutil.copy(f["gitt"], out / "gitt.csv")
    one_line_error(_cli("report", out / "gitt.csv", "--out", out, "--overwrite"), "inside the output folder")
    assert (out / "gitt.csv").exists()
    # a folder of results that holds the report itself: the report is not read as an input
    shutil.copy(f["cycles"], tmp_path / "cell2.csv")
    res = _cli("report", tmp_path, "--out", out, "--overwrite")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (out / "data" / "inputs").iterdir()) == ["cell2.csv"]
    one_line_error(_cli("report", f["gitt"], "--out", tmp_path / "no" / "such"), "does not exist")
    # --overwrite replaces an earlier report, never someone's folder without one
    data = tmp_path / "my_data"
    data.mkdir()
    (data / "cell.mpr").write_text("measured\n")
    one_line_error(_cli("report", f["gitt"], "--out", data, "--overwrite"), "holds no report")
    assert sorted(p.name for p in data.iterdir()) == ["cell.mpr"]


def test_a_failure_half_way_leaves_nothing(results, tmp_path, monkeypatch):
    _, f = results
    out = tmp_path / "rep"
    out.mkdir()
    (out / "index.html").write_text("<html>the previous report</html>\n")
    (out / "old.txt").write_text("beside it\n")

    def broken(it, ctx):
        raise LithmapError("drawing failed")

    monkeypatch.setitem(report_html._BUILDERS, "cycles", broken)
    with pytest.raises(LithmapError, match="drawing failed"):
        lm.build_report([f["gitt"], f["cycles"]], out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]


# ---------------------------------------------------------------------------------------------
# the figure style


def test_scale_bar_white_on_dark_black_on_light_round_length():
    import matplotlib.pyplot as plt

    x = np.arange(50) * 80e-9  # 4 µm wide
    with style.figure_style():
        fig, (a, b) = plt.subplots(1, 2)
        a.imshow(np.zeros((50, 50)), cmap="gray", vmin=0, vmax=1, extent=style.map_extent(x, x))
        b.imshow(np.ones((50, 50)), cmap="gray", vmin=0, vmax=1, extent=style.map_extent(x, x))
        assert style.scale_bar(a, x, x) == 1e-6 and style.scale_bar(b, x, x) == 1e-6
        assert [t.get_text() for t in a.texts] == ["1 µm"]
        assert a.lines[0].get_color() == "white" and b.lines[0].get_color() == "black"
        (x0, x1), _ = a.lines[0].get_data()
        assert x1 - x0 == pytest.approx(1.0)  # 1 µm on axes in µm
        plt.close(fig)


def test_colorbar_units_diverging_norm_and_both_files(tmp_path):
    import matplotlib.pyplot as plt

    with style.figure_style():
        fig, ax = plt.subplots()
        values = np.array([[-0.05, 0.2], [0.1, np.nan]])
        norm = style.centred_norm(values, percentile=100)
        assert (norm.vmin, norm.vmax) == (-0.2, 0.2)
        cb = style.colorbar(ax, ax.imshow(values, cmap=style.DIVERGING, norm=norm), "total contrast", "1")
        assert cb.ax.get_ylabel() == "total contrast (–)"
        paths = style.save_figure(fig, tmp_path / "c")
    assert [p.name for p in paths] == ["c.png", "c.svg"]
    assert paths[1].read_text().lstrip().startswith("<?xml") and "total contrast" in paths[1].read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "c.svg"]
    assert style.unit_label("D", "m^2/s") == "D (m²/s)"
