"""A real study end to end: spec -> deck -> dakota -> driver -> qemu + plugin -> tabular."""
from __future__ import annotations

import json
import math

from conftest import run_module, small_spec, write_spec
from driver.families.cache.backends import qemu_riscv
from driver.tabular import read_tabular


def test_study_run_end_to_end_and_resume(tmp_path, native_built):
    spec_file = write_spec(tmp_path / "s.yaml", small_spec(sampling={"samples": 8}))
    rundir = tmp_path / "run"
    proc = run_module("driver.study", "run", str(spec_file), "-o", str(rundir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "study tiny: 8 evaluations, 0 failed" in proc.stdout
    assert "best design found per workload (lowest cycles):" in proc.stdout
    assert "8/8" in proc.stderr  # the progress display reached the total

    columns, rows = read_tabular(rundir / "tabular.dat")
    assert columns[:2] == ["eval_id", "interface"]
    assert columns[2:7] == ["l1d_size_kib", "l1d_ways", "l2_size_kib", "line_bytes", "n"]
    assert columns[7:] == list(qemu_riscv.Backend.response_names)
    assert len(rows) == 8
    timing = json.loads((rundir / "spec.resolved.json").read_text())["backend"]["settings"]["timing"]
    for row in rows:
        assert row["cycles"] > row["instructions"] > 0
        assert row["cycles"] == qemu_riscv.cycles(row, timing)
    fastest = min(rows, key=lambda r: r["cycles"])
    assert f"cycles: {fastest['cycles']:,.0f}" in proc.stdout
    for n in {r["n"] for r in rows}:
        best = min((r for r in rows if r["n"] == n), key=lambda r: r["cycles"])
        assert f"n={n:g}: {best['cycles']:,.0f} cycles (eval {best['eval_id']:g})" in proc.stdout

    # Re-running the same study redoes nothing: Dakota's restart file supplies every result.
    evaluations = (rundir / "evaluations.jsonl").read_text()
    again = run_module("driver.study", "run", str(spec_file), "-o", str(rundir), "-q")
    assert again.returncode == 0, again.stderr[-2000:]
    assert (rundir / "evaluations.jsonl").read_text() == evaluations
    assert read_tabular(rundir / "tabular.dat")[1] == rows


def test_failed_evaluations_do_not_stop_the_study(tmp_path, native_built):
    # n=256 cannot finish in 0.2 s: those evaluations time out, the others complete.
    params = small_spec()["parameters"][:4] + [
        {"name": "n", "role": "workload", "values": [16, 256]}]
    spec = small_spec(parameters=params, sampling={"samples": 8, "seed": 5},
                      execution={"timeout_s": 0.2})
    rundir = tmp_path / "run"
    proc = run_module("driver.study", "run", str(write_spec(tmp_path / "s.yaml", spec)),
                      "-o", str(rundir), "-q")
    assert proc.returncode == 0, proc.stderr[-2000:]
    _, rows = read_tabular(rundir / "tabular.dat")
    failed = [r for r in rows if math.isnan(r["cycles"])]
    assert len(rows) == 8 and failed and len(failed) < 8
    assert all(r["n"] == 256 for r in failed)
    failures = [json.loads(line) for line in (rundir / "failures.jsonl").read_text().splitlines()]
    assert sorted(f["eval"] for f in failures) == sorted(int(r["eval_id"]) for r in failed)
    assert {f["kind"] for f in failures} == {"timeout"}
