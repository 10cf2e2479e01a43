"""The analysis driver on real Dakota-format files with the real QEMU backend."""
from __future__ import annotations

import json
import subprocess

import pytest

from conftest import PYTHON, run_module, small_spec, write_spec
from driver.families.cache.backends import qemu_riscv
from driver.study import render_study

RESPONSES = list(qemu_riscv.Backend.response_names)


def params_text(points: list[dict], batch: bool = False) -> str:
    lines = []
    for number, point in enumerate(points, start=1):
        lines.append(f"{len(point)} variables")
        lines += [f"{v} {k}" for k, v in point.items()]
        lines.append(f"{len(RESPONSES)} functions")
        lines += [f"1 ASV_{i}:{r}" for i, r in enumerate(RESPONSES, start=1)]
        lines += ["0 derivative_variables", "0 analysis_components",
                  f"{'1:' if batch else ''}{number} eval_id", "0 metadata"]
    return "\n".join(lines) + "\n"


POINT = {"l1d_size_kib": 4, "l1d_ways": 2, "l2_size_kib": 64, "line_bytes": 64, "n": 24}


@pytest.fixture
def run(tmp_path, native_built):
    def make(**overrides):
        spec_file = write_spec(tmp_path / "s.yaml", small_spec(**overrides))
        render_study(spec_file, tmp_path / "run")
        work = tmp_path / "run" / "evals" / "eval.1"
        work.mkdir(parents=True)
        return tmp_path / "run", work
    return make


def call_driver(work, points, batch=False):
    (work / "params.in").write_text(params_text(points, batch))
    proc = subprocess.run([PYTHON, "-m", "driver", "params.in", "results.out"], cwd=work,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return (work / "results.out").read_text()


def test_one_evaluation(run):
    rundir, work = run()
    text = call_driver(work, [POINT])
    values = {name: float(v) for v, name in (line.split() for line in text.splitlines())}
    assert list(values) == RESPONSES
    settings = json.loads((rundir / "spec.resolved.json").read_text())["backend"]["settings"]
    assert values["cycles"] == qemu_riscv.cycles(values, settings["timing"])
    assert values["instructions"] == values["l1i_accesses"] > 0
    assert 0 < values["l1d_misses"] <= values["l1d_accesses"] == values["loads"] + values["stores"]
    assert values["l2_accesses"] >= values["l1i_misses"] + values["l1d_misses"]
    record = json.loads((rundir / "evaluations.jsonl").read_text())
    assert record["status"] == "ok" and record["point"] == POINT and record["eval"] == 1
    assert (work / "program.out").read_text().strip()  # the kernel's checksum line
    # Asked again for a point it has finished (Dakota killed before recording it), the
    # driver answers from its record instead of simulating again.
    assert call_driver(work, [POINT]) == text
    again = json.loads((rundir / "evaluations.jsonl").read_text().splitlines()[1])
    assert again["status"] == "reused" and again["responses"] == values


def test_batch_evaluations_match_single(run):
    rundir, work = run(execution={"batch_size": 3})
    other = {**POINT, "l1d_size_kib": 1, "l1d_ways": 1, "line_bytes": 16}
    text = call_driver(work, [POINT, other, POINT], batch=True)
    blocks = text.split("#\n")
    assert len(blocks) == 3 and blocks[0] == blocks[2] != blocks[1]
    assert sorted(p.name for p in work.iterdir() if p.is_dir()) == ["eval.1", "eval.2", "eval.3"]


def test_crash_is_fail_and_recorded(run, tmp_path):
    crashing = tmp_path / "crash.c"  # a real RISC-V program that dereferences NULL
    crashing.write_text("int main(void) { volatile int *p = 0; return *p; }\n")
    rundir, work = run(backend={"name": "qemu_riscv", "settings": {"source": str(crashing)}})
    assert call_driver(work, [POINT]) == "FAIL\n"
    failure = json.loads((rundir / "failures.jsonl").read_text())
    assert failure["kind"] == "crash" and failure["eval"] == 1 and failure["point"] == POINT
    assert failure["reason"].startswith("the program killed by SIGSEGV"), failure["reason"]


def test_timeout_kills_simulator(run):
    rundir, work = run(execution={"timeout_s": 0.05},
                       parameters=small_spec()["parameters"][:4] +
                       [{"name": "n", "role": "workload", "values": [256]}])
    text = call_driver(work, [{**POINT, "n": 256}])
    assert text == "FAIL\n"
    failure = json.loads((rundir / "failures.jsonl").read_text())
    assert failure["kind"] == "timeout" and "0.05 s" in failure["reason"]
    left = subprocess.run(["pgrep", "-f", str(work)], capture_output=True, text=True)
    assert left.stdout == ""


def test_batch_failure_written_as_nan(run, tmp_path):
    crashing = tmp_path / "crash.c"
    crashing.write_text("int main(void) { volatile int *p = 0; return *p; }\n")
    _, work = run(execution={"batch_size": 2},
                  backend={"name": "qemu_riscv", "settings": {"source": str(crashing)}})
    text = call_driver(work, [POINT, POINT], batch=True)
    assert text.count("nan ") == 2 * len(RESPONSES) and "FAIL" not in text


def test_unparsable_statistics_are_garbage():
    with pytest.raises(qemu_riscv.EvaluationFailed) as err:
        qemu_riscv.parse_stats('{"instructions": 1')
    assert err.value.kind == "garbage"
    with pytest.raises(qemu_riscv.EvaluationFailed):
        qemu_riscv.parse_stats('{"instructions": 1}')


def test_malformed_params_file_is_one_line_error(run):
    _, work = run()
    (work / "params.in").write_text("not a dakota file\n")
    proc = subprocess.run([PYTHON, "-m", "driver", "params.in", "results.out"], cwd=work,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "params.in" in proc.stderr and not (work / "results.out").exists()


def test_driver_without_spec_says_how(tmp_path):
    (tmp_path / "params.in").write_text(params_text([POINT]))
    proc = run_module("driver", "params.in", "results.out", cwd=tmp_path)
    assert proc.returncode == 1 and "no spec.resolved.json" in proc.stderr


def test_counts_do_not_depend_on_the_work_directory(tmp_path, native_built):
    from driver.spec import load_spec

    spec = load_spec(write_spec(tmp_path / "s.yaml", small_spec()))
    backend = qemu_riscv.Backend(spec.settings, timeout_s=60)
    short = tmp_path / "a"
    long = tmp_path / ("b" * 120) / "eval.17"
    short.mkdir()
    long.mkdir(parents=True)
    assert backend.evaluate(POINT, short) == backend.evaluate(POINT, long)


def test_program_stdout_is_a_pipe_in_every_work_directory(tmp_path):
    # The guest C library sizes its stdout buffer from the file system (so heap addresses
    # and cache counts would depend on where the run directory lives): always a pipe.
    from driver.process import run_with_timeout

    probe = "import os, stat; print(stat.S_ISFIFO(os.fstat(1).st_mode), 'x' * 200000)"
    assert run_with_timeout([PYTHON, "-c", probe], tmp_path, 60) == 0
    text = (tmp_path / "program.out").read_text()
    assert text.startswith("True ") and len(text) == 5 + 200000 + 1
