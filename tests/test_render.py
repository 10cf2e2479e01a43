"""Rendered Dakota decks: real `dakota -check` accepts every shipped spec's deck."""
from __future__ import annotations

import subprocess

import pytest

from conftest import SHIPPED_SPECS, run_module, small_spec, write_spec
from driver import inprocess
from driver.spec import load_spec
from driver.study import dakota_executable, render_spec, render_study


@pytest.mark.parametrize("path", SHIPPED_SPECS, ids=lambda p: p.name)
@pytest.mark.parametrize("interface", ["fork", "python"])
def test_shipped_deck_passes_dakota_check(tmp_path, path, interface):
    spec = load_spec(path)
    spec = spec.evolve(execution=spec.execution.evolve(interface=interface))
    spec = render_spec(spec, tmp_path / "run")
    deck = (tmp_path / "run" / "study.in").read_text()
    for p in spec.parameters:
        assert f"'{p.name}'" in deck
    if interface == "python":  # the dakota executable has no Python to check it with
        assert "\n  python\n    analysis_drivers = 'cyclecast'" in deck
        assert inprocess.check(deck) is None
        return
    proc = subprocess.run([dakota_executable(), "-check", "-i", "study.in"],
                          cwd=tmp_path / "run", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    assert "Input check completed successfully" in proc.stdout


def test_a_deck_dakota_refuses_is_one_line_at_render(tmp_path):
    spec = load_spec(write_spec(tmp_path / "s.yaml", small_spec()))
    # A value Dakota reads as two tokens: the deck is written, Dakota refuses it, and the
    # render says so in one line and leaves no deck to run.
    first = spec.parameters[0].evolve(values=(1, 4, 32), name="l1d size")
    spec = spec.evolve(parameters=(first, *spec.parameters[1:]))
    with pytest.raises(Exception, match="Dakota refuses the rendered deck") as err:
        render_spec(spec, tmp_path / "run")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run" / "study.in").exists()
    assert inprocess.check("method\n  sampling\n") is not None


def test_deck_follows_spec(tmp_path):
    spec = small_spec(sampling={"method": "random", "samples": 9, "seed": 77,
                                "refinement_samples": [3, 4]},
                      execution={"concurrency": 3, "batch_size": 5, "interface": "fork"},
                      parameters=small_spec()["parameters"][:4] +
                      [{"name": "n", "role": "workload", "values": [128, 192, 256]},
                       {"name": "alpha", "role": "workload", "values": [0.5, 1.5]},
                       {"name": "kernel", "role": "workload", "values": ["nw", "matmul"]}])
    spec["backend"]["settings"] = {"args": ["{n}", "{alpha}"]}
    render_study(write_spec(tmp_path / "s.yaml", spec), tmp_path / "run")
    deck = (tmp_path / "run" / "study.in").read_text()
    # Dakota's own order of design sets: integer, string, real; strings sorted and quoted.
    assert deck.index("integer = 5") < deck.index("string = 1") < deck.index("real = 1")
    assert "set_values = 'matmul' 'nw'" in deck
    assert "sample_type random" in deck and "samples = 9" in deck and "seed = 77" in deck
    assert "refinement_samples = 3 4" in deck
    assert "batch size = 5" in deck and "evaluation_concurrency = 3" in deck
    assert "integer = 5" in deck and "real = 1" in deck
    assert "failure_capture recover" + " NaN" * 12 in deck
    assert "active all" in deck and "work_directory named 'evals/eval'" in deck
    proc = subprocess.run([dakota_executable(), "-check", "-i", "study.in"],
                          cwd=tmp_path / "run", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-1500:]


@pytest.mark.parametrize("capture,expected", [("retry", "failure_capture retry = 2"),
                                              ("abort", "failure_capture abort")])
def test_failure_policy_rendered(tmp_path, capture, expected):
    spec = small_spec(failure={"capture": capture}, execution={"interface": "fork"})
    render_study(write_spec(tmp_path / "s.yaml", spec), tmp_path / "run")
    assert expected in (tmp_path / "run" / "study.in").read_text()


def test_render_refuses_foreign_directory_and_keeps_it(tmp_path):
    spec_file = write_spec(tmp_path / "s.yaml", small_spec())
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    proc = run_module("driver.study", "render", str(spec_file), "-o", str(foreign))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not a cyclecast run directory" in proc.stderr
    assert (foreign / "precious.txt").read_text() == "keep me"


def test_bad_spec_cli_is_one_line_without_traceback(tmp_path):
    spec = small_spec()
    spec["sampling"]["method"] = "sobol"
    proc = run_module("driver.study", "render", str(write_spec(tmp_path / "s.yaml", spec)),
                      "-o", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "sampling.method" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_run_refuses_a_backend_that_cannot_run_here(tmp_path, monkeypatch):
    # gem5 is not on PATH on the test machine; GEM5 (which `make test` sets where a shared
    # build sits beside the checkout) is taken away here.
    import shutil

    monkeypatch.delenv("GEM5", raising=False)
    monkeypatch.delenv("GEM5_ROOT", raising=False)
    if shutil.which("gem5.opt") or shutil.which("gem5.fast"):
        pytest.skip("gem5 is installed here")
    env_spec = [p for p in __import__("conftest").SHIPPED_SPECS if p.name == "gem5_matmul.yaml"][0]
    proc = run_module("driver.study", "run", str(env_spec), "-o", str(tmp_path / "run"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "gem5 not found" in proc.stderr
    assert not (tmp_path / "run" / "evaluations.jsonl").exists()


def test_job_script_from_the_execution_section(tmp_path):
    spec = small_spec(execution={"concurrency": 8, "interface": "fork", "slurm": {
        "nodes": 2, "cpus_per_task": 2, "mem_per_cpu": "2G", "time": "02:30:00",
        "partition": "compute", "account": "arch42", "qos": "normal",
        "modules": ["dakota/6.24", "gem5/24.0"]}})
    render_study(write_spec(tmp_path / "s.yaml", spec), tmp_path / "run")
    job = (tmp_path / "run" / "job.sh").read_text()
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks=8", "#SBATCH --cpus-per-task=2",
                 "#SBATCH --mem-per-cpu=2G", "#SBATCH --time=02:30:00",
                 "#SBATCH --partition=compute", "#SBATCH --account=arch42",
                 "#SBATCH --qos=normal", "module load dakota/6.24", "module load gem5/24.0",
                 f"-m driver.study exec --quiet {tmp_path / 'run'}"):
        assert line in job.splitlines() or line in job, line
    driver = (tmp_path / "run" / "driver.sh").read_text()
    assert "srun --exclusive --nodes=1 --ntasks=1 --cpus-per-task=2" in driver
    deck = (tmp_path / "run" / "study.in").read_text()
    assert f"analysis_drivers = '{tmp_path / 'run' / 'driver.sh'}'" in deck
    assert "evaluation_concurrency = 8" in deck
    proc = subprocess.run(["bash", "-n", str(tmp_path / "run" / "job.sh")])
    assert proc.returncode == 0


def test_job_script_defaults_have_no_optional_lines(tmp_path):
    render_study(write_spec(tmp_path / "s.yaml", small_spec()), tmp_path / "run")
    job = (tmp_path / "run" / "job.sh").read_text()
    for absent in ("--partition", "--account", "--qos", "--mem-per-cpu", "module load"):
        assert absent not in job
