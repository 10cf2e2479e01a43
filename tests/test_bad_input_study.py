"""Bad input to the study commands (``python -m driver.study``), through the real command:
each is refused with exit 2 and one line naming the file and field and what is allowed, no
traceback, and nothing written (no run directory) or lost (a finished run is unchanged)."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from conftest import PYTHON, ROOT, assert_one_line_error, run_module, small_spec, tree, write_spec


def _parameter(spec: dict, name: str) -> dict:
    return next(p for p in spec["parameters"] if p["name"] == name)


def _set(path: str, value):
    """A spec mutation: set ``a.b.c`` to ``value``."""
    def mutate(spec):
        *parents, last = path.split(".")
        node = spec
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return mutate


def _values(name: str, values: list):
    return lambda spec: _parameter(spec, name).update(values=values)


def _program(key: str, value: str):
    def mutate(spec):
        spec["backend"]["settings"].pop("kernel")
        spec["backend"]["settings"][key] = value
    return mutate


GOOD_TEXT = yaml.safe_dump(small_spec(), sort_keys=False)

# (id, the spec: a mutation of small_spec or its text, texts the one line must hold)
SPEC_CASES = [
    ("duplicate-key", GOOD_TEXT + "study: other\n", ["key 'study' given twice", "line "]),
    ("not-yaml", "study: [\n: :", ["not valid YAML", "line 2"]),
    ("not-a-mapping", "- 1\n- 2\n", ["a study spec must be a mapping"]),
    ("empty", "", ["a study spec must be a mapping"]),
    ("unknown-top-level-key", _set("colour", "red"), ["'colour' was unexpected"]),
    ("unconsumed-parameter", lambda s: s["parameters"].append(
        {"name": "l1d_sise_kib", "role": "architecture", "values": [1, 2]}),
     ["parameters[5].name", "'l1d_sise_kib'", "allowed: ", "l1d_size_kib"]),
    ("swept-and-fixed", _set("backend.settings.cache", {"l1d_size_kib": 8}),
     ["backend.settings.cache.l1d_size_kib", "also swept"]),
    ("zero-ways", _values("l1d_ways", [0, 2]), ["parameters[1].values", "l1d_ways = 0",
                                                 "positive whole number"]),
    ("negative-size", _values("l1d_size_kib", [-4, 4]), ["parameters[0].values"]),
    ("negative-workload", _values("n", [-16, 24]),
     ["parameters[4].values", "n = -16", "kernel matmul", "16..256"]),
    ("workload-above-kernel-range", _values("n", [16, 4096]), ["n = 4096", "16..256"]),
    ("line-not-power-of-two", _values("line_bytes", [48, 64]),
     ["parameters[3].values", "not a power of two", "allowed: 8, 16"]),
    ("impossible-geometry", _values("l1d_size_kib", [3, 4]), ["impossible L1D geometry"]),
    ("infinite-value", GOOD_TEXT.replace("- 16\n  - 24", "- .inf\n  - 24"),
     ["parameters[4].values", "not a finite number"]),
    ("nan-value", GOOD_TEXT.replace("- 16\n  - 24", "- .nan\n  - 24"),
     ["parameters[4].values", "not a finite number"]),
    ("bool-value", _values("n", [True, 24]), ["parameters[4].values[0]"]),
    ("words-and-numbers", _values("l1d_ways", ["two", 4]),
     ["parameters[1].values", "numeric or categorical"]),
    ("no-values", _values("n", []), ["parameters[4].values", "non-empty"]),
    ("bad-role", lambda s: _parameter(s, "n").update(role="workloads"),
     ["parameters[4].role", "'architecture', 'workload'"]),
    ("duplicate-parameter", lambda s: s["parameters"].append(dict(s["parameters"][0])),
     ["parameters[5].name", "duplicate parameter"]),
    ("samples-beyond-dakota", _set("sampling.samples", 10**12),
     ["sampling.samples", "maximum of 100000000"]),
    ("samples-beyond-the-space", _set("sampling.samples", 500),
     ["sampling.samples", "108 distinct points", "method: grid"]),
    ("zero-samples", _set("sampling.samples", 0), ["sampling.samples"]),
    ("negative-seed", _set("sampling.seed", -1), ["sampling.seed"]),
    ("unknown-method", _set("sampling.method", "sobol"), ["sampling.method", "'lhs'"]),
    ("zero-concurrency", _set("execution.concurrency", 0), ["execution.concurrency"]),
    ("negative-timeout", _set("execution.timeout_s", -5), ["execution.timeout_s"]),
    ("unknown-interface", _set("execution.interface", "mpi"), ["execution.interface"]),
    ("unknown-backend", _set("backend.name", "gem6"),
     ["backend.name", "unknown backend 'gem6'", "allowed: gem5"]),
    ("unknown-kernel", _set("backend.settings.kernel", "fft"),
     ["backend.settings.kernel", "'matmul'"]),
    ("unknown-response", _set("responses", ["watts"]), ["responses[0]", "'watts'"]),
    ("objective-not-a-response", lambda s: s.update(responses=["cycles"],
                                                    objective="instructions"),
     ["objective", "allowed: cycles"]),
    ("x86-binary", _program("binary", shutil.which("ls")),
     ["backend.settings.binary", "x86-64 executable", "RISC-V"]),
    ("text-as-binary", _program("binary", __file__),
     ["backend.settings.binary", "is not an ELF executable"]),
    ("missing-binary", _program("binary", "/no/such/program"),
     ["backend.settings.binary", "no such file"]),
    ("missing-source", _program("source", "/no/such/kernel.c"),
     ["backend.settings.source", "no such file"]),
    ("args-unknown-parameter", _set("backend.settings.args", ["{size}"]),
     ["backend.settings.args[0]", "unknown parameter {size}"]),
]


@pytest.mark.parametrize("spec", [c[1] for c in SPEC_CASES], ids=[c[0] for c in SPEC_CASES])
def test_bad_spec_is_refused_before_anything_is_written(tmp_path, spec, request):
    texts = next(c[2] for c in SPEC_CASES if c[0] == request.node.callspec.id)
    spec_file = tmp_path / "bad.yaml"
    if isinstance(spec, str):
        spec_file.write_text(spec)
    else:
        data = small_spec()
        spec(data)
        write_spec(spec_file, data)
    rundir = tmp_path / "run"
    proc = run_module("driver.study", "render", str(spec_file), "-o", str(rundir))
    assert_one_line_error(proc, str(spec_file), *texts)
    assert not rundir.exists()


def test_non_utf8_spec(tmp_path):
    spec_file = tmp_path / "latin1.yaml"
    spec_file.write_bytes(GOOD_TEXT.encode().replace(b"tiny", b"t\xe9ny"))
    proc = run_module("driver.study", "run", str(spec_file), "-o", str(tmp_path / "run"))
    assert_one_line_error(proc, str(spec_file), "byte 8: not UTF-8 text")
    assert not (tmp_path / "run").exists()


def test_missing_spec(tmp_path):
    proc = run_module("driver.study", "run", str(tmp_path / "nope.yaml"), "-o",
                      str(tmp_path / "run"))
    assert_one_line_error(proc, "nope.yaml: cannot read study spec: No such file")


@pytest.mark.parametrize("where, text", [
    ("file", "exists and is not a directory"),
    ("under-file", "Not a directory"),
    ("proc", "No such file or directory"),
])
def test_run_directory_that_cannot_be_made(tmp_path, where, text):
    spec_file = write_spec(tmp_path / "s.yaml", small_spec())
    (tmp_path / "afile").write_text("keep me\n")
    rundir = {"file": tmp_path / "afile", "under-file": tmp_path / "afile" / "run",
              "proc": "/proc/cyclecast-run"}[where]
    for command in ("render", "run"):
        proc = run_module("driver.study", command, str(spec_file), "-o", str(rundir))
        assert_one_line_error(proc, str(rundir), text)
    assert (tmp_path / "afile").read_text() == "keep me\n"


def test_foreign_directory_is_not_written_into(tmp_path):
    spec_file = write_spec(tmp_path / "s.yaml", small_spec())
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine\n")
    proc = run_module("driver.study", "run", str(spec_file), "-o", str(tmp_path / "mine"))
    assert_one_line_error(proc, "not empty and not a cyclecast run directory")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("args, texts", [
    (["frobnicate"], ["invalid choice: 'frobnicate'", "(see --help)"]),
    (["run", "s.yaml"], ["-o/--out", "required"]),
    (["status"], ["rundir", "required"]),
], ids=["unknown-command", "run-without-out", "status-without-rundir"])
def test_usage_errors_are_one_line(args, texts):
    assert_one_line_error(run_module("driver.study", *args), *texts)


@pytest.mark.parametrize("content, texts", [
    ("{", ["damaged (is not valid JSON)"]),
    ("{}", ["damaged (lacks study, parameters"]),
    ("[1]", ["damaged"]),
], ids=["truncated", "empty-object", "a-list"])
@pytest.mark.parametrize("command", ["status", "tabular", "exec"])
def test_damaged_run_directory(tmp_path, content, texts, command):
    rundir = tmp_path / "run"
    rundir.mkdir()
    (rundir / "spec.resolved.json").write_text(content)
    (rundir / "study.in").write_text("# a deck\n")
    before = tree(rundir)
    proc = run_module("driver.study", command, str(rundir))
    assert_one_line_error(proc, "spec.resolved.json", "render the study again", *texts)
    assert tree(rundir) == before


@pytest.mark.parametrize("command", ["status", "tabular", "exec", "resume"])
def test_not_a_run_directory(tmp_path, command):
    proc = run_module("driver.study", command, str(tmp_path / "nowhere"))
    assert_one_line_error(proc, "not a cyclecast run directory", "render SPEC -o DIR")


def _changed_spec(finished_study, tmp_path, change) -> str:
    spec = json.loads((finished_study / "spec.resolved.json").read_text())
    data = small_spec(sampling={"samples": 30, "seed": 11})
    assert spec["sampling"]["seed"] == data["sampling"]["seed"]
    change(data)
    return str(write_spec(tmp_path / "changed.yaml", data))


@pytest.mark.parametrize("change, field", [
    (_set("sampling.seed", 12), "sampling.seed: 11 -> 12"),
    (_values("l1d_size_kib", [1, 4, 16]), "parameters[0].values: [1, 4, 32] -> [1, 4, 16]"),
    (lambda s: (_set("backend.settings.kernel", "kmeans")(s),
                _values("n", [100, 200, 300])(s)), "parameters[4].values"),
], ids=["seed", "values", "kernel"])
def test_another_spec_in_a_finished_run_is_refused_naming_the_field(
        finished_study, tmp_path, change, field):
    spec_file = _changed_spec(finished_study, tmp_path, change)
    before = tree(finished_study)
    proc = run_module("driver.study", "run", spec_file, "-o", str(finished_study), "-q")
    assert_one_line_error(proc, "holds evaluations of a different spec", field,
                          "choose another -o")
    assert tree(finished_study) == before


def test_harmless_changes_resume_without_redoing_anything(finished_study, tmp_path):
    """A longer timeout and the same spec at another path: the run is taken up again
    (nothing to evaluate) instead of refused."""
    runs_before = (finished_study / "evaluations.jsonl").read_text()
    spec_file = _changed_spec(finished_study, tmp_path, _set("execution.timeout_s", 120))
    proc = run_module("driver.study", "run", spec_file, "-o", str(finished_study), "-q")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (finished_study / "evaluations.jsonl").read_text() == runs_before
    status = run_module("driver.study", "status", str(finished_study))
    assert "finished" in status.stdout and "remaining" not in status.stdout, status.stdout


def test_a_study_whose_every_evaluation_fails_exits_non_zero_with_the_reason(
        tmp_path, native_built):
    """A real RISC-V program that exits 3 at every point: Dakota finishes, the study
    reports the failure instead of success."""
    source = tmp_path / "fails.c"
    source.write_text('#include <stdio.h>\nint main(void) { fputs("no input file\\n", '
                      "stderr); return 3; }\n")
    spec = small_spec(backend={"name": "qemu_riscv", "settings": {"source": str(source)}},
                      sampling={"samples": 4, "seed": 3})
    spec_file = write_spec(tmp_path / "s.yaml", spec)
    proc = run_module("driver.study", "run", str(spec_file), "-o", str(tmp_path / "run"), "-q")
    assert_one_line_error(proc, "every evaluation failed (4 of 4)", "4 crash",
                          "the program exited with status 3: no input file", status=1)
    assert len((tmp_path / "run" / "failures.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize("command", ["status", "tabular"])
def test_a_reader_that_leaves_early_gets_no_traceback(finished_study, command):
    """`... | head` when head has gone: exit 1, nothing on stderr."""
    proc = subprocess.Popen([PYTHON, "-m", "driver.study", command, str(finished_study)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1 and err == "", err
