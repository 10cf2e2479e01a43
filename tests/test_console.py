"""The ``cyclecast`` console script: each subcommand is its ``python -m`` form."""
from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import PYTHON, ROOT, assert_one_line_error, small_spec, write_spec

CYCLECAST = str(Path(PYTHON).parent / "cyclecast")


def cyclecast(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CYCLECAST, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_lists_its_commands():
    proc = cyclecast("--help")
    assert proc.returncode == 0
    for command in ("render", "run", "status", "resume", "train", "predict", "explore", "demo"):
        assert command in proc.stdout


def test_render_and_status_are_the_study_commands(tmp_path):
    spec = write_spec(tmp_path / "s.yaml", small_spec())
    proc = cyclecast("render", str(spec), "-o", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "study.in").is_file()
    status = cyclecast("status", str(tmp_path / "run"))
    assert status.returncode == 0 and "done 0, failed 0" in status.stdout


def test_train_is_ml_train():
    proc = cyclecast("train", "--help")
    assert proc.returncode == 0 and "tabular" in proc.stdout.lower()


def test_bad_command_and_bad_input_are_one_line(tmp_path):
    assert_one_line_error(cyclecast("bogus"), "unknown command 'bogus'", "allowed: render")
    assert_one_line_error(cyclecast("status", str(tmp_path)), "not a cyclecast run directory")
