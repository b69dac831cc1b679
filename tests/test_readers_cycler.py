"""Bad cycler input: every reader family (BioLogic .mpr and text, Neware .ndax/.nda, Arbin and
plain CSV, GITT pulse CSV) answers with one line naming the file and what is wrong, exits
non-zero and writes nothing; damaged copies of the real files give a one-line LithmapError or a
result, never another exception or a hang (tests/corrupt.py)."""

import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import lithmap as lm
from corrupt import check_reader, damaged_copies
from lithmap.cli import app

CYC = Path(__file__).parent / "data" / "cycler"
GITT = Path(__file__).parent / "data" / "gitt-halfcell"
POS = "Positive electrode potential [V]"


def _biologic_slice() -> Path:
    """The header and the first 150 records of the real BioLogic text export (a small copy)."""
    lines = (CYC / "Sample_data_biologic_01_MB_CA1.txt").read_bytes().split(b"\n")
    n_header = int(lines[1].split(b":")[1])
    path = Path(tempfile.mkdtemp(prefix="lithmap-biologic-")) / "biologic_slice.txt"
    path.write_bytes(b"\n".join(lines[: n_header + 150]) + b"\n")
    return path


BIOLOGIC_SLICE = _biologic_slice()


def fails_cleanly(args, out, *names):
    """The command fails with one line that names each of ``names``, and writes nothing."""
    res = CliRunner().invoke(app, [str(a) for a in args] + ["--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert not out.exists() and not out.with_suffix(".png").exists()
    return lines[0]


# --- bad input through the CLI, one test per reader family ------------------------------------


def test_mpr_that_is_not_an_mpr(tmp_path):
    bad = tmp_path / "cell.mpr"
    bad.write_bytes(b"BIO-LOGIC MODULAR FILE" + bytes(range(256)) * 4)
    fails_cleanly(["cycles", bad], tmp_path / "c.csv", "cell.mpr", "could not be read as .mpr")


def test_truncated_mpr(tmp_path):
    bad = tmp_path / "ocv.mpr"
    bad.write_bytes((CYC / "00_test_04_MB_C01.mpr").read_bytes()[:3000])
    fails_cleanly(["cycles", bad], tmp_path / "c.csv", "ocv.mpr")


@pytest.mark.parametrize("suffix", [".mpt", ".txt"])
def test_biologic_text_without_its_columns(tmp_path, suffix):
    bad = tmp_path / f"export{suffix}"
    bad.write_text("EC-Lab ASCII FILE\nNb header lines : 3\nmode\tox/red\n1\t0\n", encoding="latin-1")
    fails_cleanly(["cycles", bad], tmp_path / "c.csv", f"export{suffix}", "lacks column")


def test_biologic_text_with_a_bad_header_count(tmp_path):
    bad = tmp_path / "export.mpt"
    bad.write_text("EC-Lab ASCII FILE\nNb header lines : many\n", encoding="latin-1")
    fails_cleanly(["cycles", bad], tmp_path / "c.csv", "export.mpt", "number of header lines")


def test_biologic_text_with_a_word_among_the_numbers(tmp_path):
    lines = BIOLOGIC_SLICE.read_text(encoding="latin-1").splitlines()
    n_header = int(lines[1].split(":")[1])
    lines[n_header + 3] = "oops\t" + lines[n_header + 3]
    bad = tmp_path / "export.txt"
    bad.write_text("\n".join(lines) + "\n", encoding="latin-1")
    fails_cleanly(["cycles", bad], tmp_path / "c.csv", "export.txt", "bad record", "oops")


def test_ndax_that_is_not_a_zip(tmp_path):
    bad = tmp_path / "cell.ndax"
    bad.write_bytes(b"not a zip archive at all" * 10)
    fails_cleanly(["cycles", bad], tmp_path / "c.csv", "cell.ndax", "could not be read as .ndax")


def test_nda_that_is_garbage(tmp_path):
    bad = tmp_path / "cell.nda"
    bad.write_bytes(b"NEWARE" + bytes(2000))
    fails_cleanly(["cycles", bad], tmp_path / "c.csv", "cell.nda")


def test_arbin_csv_with_a_non_numeric_value(tmp_path):
    rows = (CYC / "FastCharge_000025_CH8.csv").read_text().splitlines()
    header = rows[0].split(",")
    k = header.index("Voltage")
    first = rows[1].split(",")
    first[k] = "n/a"
    bad = tmp_path / "arbin.csv"
    bad.write_text("\n".join([rows[0], ",".join(first), *rows[2:]]) + "\n")
    fails_cleanly(["cycles", bad], tmp_path / "c.csv", "arbin.csv", "'n/a' is not a number", "Voltage")


def test_plain_csv_without_the_record_columns(tmp_path):
    bad = tmp_path / "log.csv"
    bad.write_text("t,E\n0,3.5\n1,3.6\n")
    fails_cleanly(["cycles", bad], tmp_path / "c.csv", "log.csv", "lacks column")


def test_unknown_format_and_missing_file(tmp_path):
    odd = tmp_path / "log.xyz"
    odd.write_text("1,2,3\n")
    fails_cleanly(["cycles", odd], tmp_path / "c.csv", "log.xyz", "unknown format")
    fails_cleanly(["pitt", tmp_path / "none.mpr", "--radius", "2um"], tmp_path / "p.csv", "none.mpr", "does not exist")


def test_gitt_pulse_csv_without_the_voltage_column(tmp_path):
    fails_cleanly(["gitt", GITT / "pulse_1.csv", "--radius", "5um", "--column", "Cathode [V]"], tmp_path / "g.csv",
                  "pulse_1.csv", "lacks column", "Cathode [V]")


def test_gitt_pulses_that_overlap(tmp_path):
    copy = tmp_path / "again.csv"
    copy.write_bytes((GITT / "pulse_1.csv").read_bytes())
    fails_cleanly(["gitt", GITT / "pulse_1.csv", copy, "--radius", "5um"], tmp_path / "g.csv",
                  "overlap in time")


def test_gitt_pulse_csv_with_time_going_backwards(tmp_path):
    lines = (GITT / "pulse_2.csv").read_text().splitlines()
    bad = tmp_path / "pulse.csv"
    bad.write_text("\n".join([lines[0], lines[5], *lines[1:5], *lines[6:]]) + "\n")
    fails_cleanly(["gitt", bad, "--radius", "5um"], tmp_path / "g.csv", "pulse.csv", "time goes backwards")


def test_gitt_mixing_pulse_csvs_and_a_cycler_file(tmp_path):
    fails_cleanly(["gitt", GITT / "pulse_1.csv", CYC / "test.ndax", "--radius", "5um"], tmp_path / "g.csv",
                  "give either CSV pulse files or one cycler file")


def test_binary_data_in_a_csv(tmp_path):
    bad = tmp_path / "pulse.csv"
    bad.write_bytes((GITT / "pulse_1.csv").read_bytes()[:200] + b"\xff\xfe\x00\x81" * 20)
    fails_cleanly(["gitt", bad, "--radius", "5um"], tmp_path / "g.csv", "pulse.csv")


# --- damaged copies of the real files (hypothesis) --------------------------------------------


@damaged_copies(CYC / "00_test_01_OCV_C01.mpr", CYC / "00_test_04_MB_C01.mpr", max_examples=40)
def test_damaged_mpr(path):
    check_reader(lm.read_cycler, path)


@damaged_copies(BIOLOGIC_SLICE, max_examples=30)
def test_damaged_biologic_text(path):
    check_reader(lm.read_cycler, path)


@damaged_copies(CYC / "test.ndax", max_examples=40)
def test_damaged_ndax(path):
    check_reader(lm.read_cycler, path)


@damaged_copies(CYC / "FastCharge_000025_CH8.csv", max_examples=30)
def test_damaged_arbin_csv(path):
    rec = check_reader(lm.read_cycler, path)
    if rec is not None:
        check_reader(lambda r: lm.analyse_cycles(r), rec)


@damaged_copies(GITT / "pulse_1.csv", max_examples=30)
def test_damaged_gitt_pulse(path):
    """The damaged pulse joined with the next (intact) one, read and analysed."""
    rec = check_reader(lm.read_cycler, [path, GITT / "pulse_2.csv"], columns={"voltage": POS})
    if rec is not None:
        check_reader(lambda r: lm.analyse_gitt(r, radius=5.22e-6), rec)
