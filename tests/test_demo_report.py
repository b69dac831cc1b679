"""`lithmap demo` end to end (issue 14): the command runs the whole pipeline on the shipped example
data into a temporary folder, and its index.html is opened in headless Chromium (Debian's chromium
and chromium-driver, installed by tools/browser-deps.sh; nothing is downloaded here): every <img>
must have loaded (naturalWidth > 0) and the page must have logged no console errors. The full-page
screenshot is kept as a test artefact: $LITHMAP_TEST_ARTIFACTS/demo_report.png, by default
tests/artifacts/demo_report.png."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_checks import one_line_error
from lithmap.cli import app

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
ARTIFACTS = Path(os.environ.get("LITHMAP_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))
#: The result files the demo's stages hand to the report (its copies are in data/inputs/) ...
SHOWN = ("gitt.csv", "cycles.csv", "simulation_example_particle.nc", "simulation_sphere_8um.nc", "contrast.nc",
         "fit.nc", "lcf_map.nc", "lcf_Mn3O4.nc", "clusters.nc", "reconstruction.nc", "stress.nc",
         "study_rates.png", "study_size.png", "study_charge_rest.png", "study_cv_hold.png")
#: ... and what the demo keeps beside the report's tables in data/ (inputs it made, the studies' numbers).
KEPT = ("spectral_map.nc", "tilt_series.nc", "study_rates.nc", "study_size.nc", "study_charge_rest.nc",
        "study_cv_hold.nc", "shells.csv", "demo_stages.csv")
runner = CliRunner()


def _lithmap_command() -> list[str]:
    exe = Path(sys.executable).with_name("lithmap")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from lithmap.cli import main; main()"]


@pytest.fixture
def demo_run(tmp_path_factory):
    """`lithmap demo --out DIR` as a user runs it (a subprocess); returns (DIR, its stdout)."""
    out = tmp_path_factory.mktemp("demo") / "report"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(_lithmap_command() + ["demo", "--out", str(out)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


def _chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--allow-file-access-from-files", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the driver path is given, so selenium-manager never looks for (or downloads) a driver
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def _full_page_png(driver, path: Path) -> Path:
    """A screenshot of the whole page (beyond the window), through the DevTools protocol."""
    import base64

    size = driver.execute_script("return [document.documentElement.scrollWidth, "
                                 "document.documentElement.scrollHeight]")
    width, height = int(size[0]), min(int(size[1]), 30000)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


@pytest.mark.slow
def test_demo_writes_the_report_and_it_loads_in_headless_chromium(demo_run):
    """One test, so that the demo runs once even when pytest-xdist spreads tests over workers."""
    out, stdout = demo_run
    _check_outputs(out, stdout)
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (bash tools/browser-deps.sh)")
    _check_in_chromium(out)


def _check_outputs(out, stdout):
    assert f"report: {out / 'index.html'}" in stdout
    assert (out / "index.html").is_file()
    missing = [f for f in SHOWN if not (out / "data" / "inputs" / f).is_file()]
    missing += [f for f in KEPT if not (out / "data" / f).is_file()]
    assert not missing, missing
    stage_lines = [ln for ln in stdout.splitlines() if ln.startswith("[") and "/" in ln.split("]")[0]]
    assert len(stage_lines) == 11, stdout
    assert all(ln.rstrip().endswith(" s)") for ln in stage_lines)  # each stage is timed
    assert not list(out.parent.glob(".report.demo-*"))  # the work folder beside OUT is gone

    import lithmap as lm

    fit = lm.read_result(out / "data" / "inputs" / "fit.nc")
    assert float(fit.alpha_low) < 2.7 < float(fit.alpha_high)  # the movie was made with alpha = 2.7
    assert fit.attrs["synthetic"] == 1 and "SYNTHETIC" in fit.attrs["synthetic_description"]
    inputs = out / "data" / "inputs"
    for path in [inputs / n for n in ("contrast.nc", "lcf_map.nc", "clusters.nc", "reconstruction.nc")] + [
            out / "data" / n for n in ("spectral_map.nc", "tilt_series.nc")]:
        ds = lm.read_result(path)
        assert ds.attrs.get("synthetic") == 1 and "SYNTHETIC" in ds.attrs["synthetic_description"], path.name
    lcf = lm.read_result(inputs / "lcf_map.nc")
    assert lcf.attrs["mean_valence_error"] < 0.03
    assert "synthetic" not in lm.read_result(inputs / "lcf_Mn3O4.nc").attrs  # the real spectrum
    cv = lm.read_result(out / "data" / "study_cv_hold.nc")
    assert float(cv.ce_cc) < float(cv.ce_cv)  # the hold recovers capacity
    _, shells = lm.read_columns(out / "data" / "shells.csv")
    means = [float(row["mean"]) for row in shells]
    assert means == sorted(means) and means[-1] - means[0] > 0.3  # the made-up gradient: reduced surface
    page = (out / "index.html").read_text()
    assert f"α = {float(fit.alpha):.4g}" in page  # the fitted alpha is on the page
    for name in ("study_rates", "study_cv_hold"):  # each study's figure with its text
        assert f"{name}.png" in page and (out / "data" / f"{name}.txt").is_file()
    _, stages = lm.read_columns(out / "data" / "demo_stages.csv")
    assert len(stages) == 12 and all(float(row["seconds"]) >= 0 for row in stages)


def _check_in_chromium(out):
    """Every <img> loaded, no console errors; the full-page screenshot kept as an artefact."""
    driver = _chromium()
    try:
        driver.get((out / "index.html").resolve().as_uri())
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(driver, 60).until(lambda d: d.execute_script(
            "return document.readyState === 'complete' && "
            "Array.from(document.images).every(i => i.complete)"))
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight])")
        shot = _full_page_png(driver, ARTIFACTS / "demo_report.png")
        logs = driver.get_log("browser")
        title = driver.title
    finally:
        driver.quit()
    assert len(images) >= 10, images  # a figure per stage at least
    broken = [src for src, w, h in images if not (w > 0 and h > 0)]
    assert not broken, f"images that did not load: {broken}"
    external = [src for src, *_ in images if "://" in src or src.startswith("//")]
    assert not external, external  # relative paths only: the folder is the report
    errors = [e for e in logs if e.get("level") == "SEVERE"]
    assert not errors, errors
    assert title
    from PIL import Image

    with Image.open(shot) as im:
        assert im.width >= 800 and im.height > 900  # the whole page, not the window
        lo, hi = im.convert("L").getextrema()
        assert hi - lo > 100  # something is drawn, not a blank page


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 2
    one_line_error(result, "error:", str(out), "--overwrite")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written, no work folder left
    assert (out / "notes.txt").read_text() == "keep me"


def test_demo_overwrite_replaces_only_a_report(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = runner.invoke(app, ["demo", "--out", str(out), "--overwrite"])
    one_line_error(result, "error:", "index.html")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["mine", "notes.txt"]


def test_demo_refuses_a_file_and_a_missing_parent(tmp_path):
    f = tmp_path / "report.html"
    f.write_text("x")
    one_line_error(runner.invoke(app, ["demo", "--out", str(f)]), "error:", "is a file")
    one_line_error(runner.invoke(app, ["demo", "--out", str(tmp_path / "no" / "such")]), "error:", "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_run_demo_replaces_only_its_own_report_and_keeps_what_the_page_does_not_draw(tmp_path, monkeypatch):
    """The folder logic on one tiny stage: a new report, --overwrite over it, nothing left beside it."""
    import lithmap as lm
    from lithmap.report import demo

    def tiny(ctx, data, tick):
        run = lm.write_result(lm.simulate("sphere:1um", "Charge at 1C for 2 minutes", diffusivity=1e-15, times=60.0),
                              data / "run.nc")
        demo._keep(ctx, lm.write_table(data / "numbers.csv", ["a"], [(1,)]))
        return [run], "one run"

    monkeypatch.setattr(demo, "DEMO_STAGES", (("tiny", tiny),))
    out = tmp_path / "report"
    index = demo.run_demo(out, progress=False)
    assert index == out / "index.html" and index.is_file()
    assert (out / "data" / "numbers.csv").is_file() and (out / "data" / "inputs" / "run.nc").is_file()
    _, rows = lm.read_columns(out / "data" / "demo_stages.csv")
    assert [r["stage"] for r in rows] == ["tiny", "report"] and rows[0]["summary"] == "one run"
    (out / "stale.txt").write_text("from the first report")
    with pytest.raises(lm.LithmapError, match="--overwrite"):
        demo.run_demo(out, progress=False)
    demo.run_demo(out, overwrite=True, progress=False)
    assert (out / "index.html").is_file() and not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no work folder left beside it


def test_run_demo_that_fails_midway_leaves_nothing(tmp_path, monkeypatch):
    import lithmap as lm
    from lithmap.report import demo

    def broken(ctx, data, tick):
        (data / "half.nc").write_text("half-written")
        raise lm.LithmapError("stage failed")

    monkeypatch.setattr(demo, "DEMO_STAGES", (("broken", broken),))
    with pytest.raises(lm.LithmapError, match="stage failed"):
        demo.run_demo(tmp_path / "report", progress=False)
    assert list(tmp_path.iterdir()) == []
