"""Render a run directory from a validated spec: the resolved spec, the Dakota deck, the
fork interface's analysis-driver script and the Slurm job, with Dakota's verdict on the
deck before anything runs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .. import inprocess
from ..errors import SpecError
from ..render import render
from ..resolved import Parameter, ResolvedSpec
from ..rundir import RunDir, read_resolved
from ..spec import check_samples, load_spec
from .compat import spec_difference
from .dakota import dakota_executable
from .lock import refuse_foreign

SAFE_PATH_CHARACTERS = "/._-+,=@%:"


# interface python: evaluations per callback unless batch_size says: enough to keep the
# workers busy (a batch ends with its slowest evaluation); a Python backend, called
# directly, takes bigger batches (measured: bench/results/orchestration.md).
PYTHON_BATCH = 128


PYTHON_BATCH_IN_PROCESS = 1024


DAKOTA_SETS = {"integer": "integer", "categorical": "string", "real": "real"}


def variable_groups(spec: ResolvedSpec) -> list[tuple[str, list[Parameter]]]:
    """Parameters split into Dakota's integer, string and real design sets, in the order
    Dakota itself keeps them (its tabular columns and list-study points follow it); spec
    order within a set."""
    return [(dakota, group) for kind, dakota in DAKOTA_SETS.items()
            if (group := [p for p in spec.parameters if p.kind == kind])]


def python_batch(spec: ResolvedSpec) -> int:
    """Evaluations per callback of the python interface: batch_size when set, else enough
    to keep every worker busy without long waits at a batch's end."""
    size = spec.execution.batch_size
    if size > 1:
        return size
    cheap = spec.backend_class.in_process
    return max(1, min(PYTHON_BATCH_IN_PROCESS if cheap else PYTHON_BATCH,
                      spec.total_evaluations))


def _write(path: Path, text: str, executable: bool = False) -> None:
    path.write_text(text)
    if executable:
        path.chmod(0o755)


def render_study(spec_path: Path, rundir: Path,
                 points: list[dict] | None = None) -> ResolvedSpec:
    """Validate the spec and write the run directory; return the resolved spec.

    ``points`` (design points, each a value per parameter): evaluate exactly these with a
    Dakota list parameter study instead of the spec's sampling.
    """
    return render_spec(load_spec(spec_path), rundir, points)


def point_indices(spec: ResolvedSpec, points: list[dict]) -> list[list[int]]:
    """Each point as Dakota wants it in a list study over design sets: for every variable
    (in deck order), the index of its value in the sorted set."""
    order = [p for _, group in variable_groups(spec) for p in group]
    rows = []
    for point in points:
        row = []
        for p in order:
            values = sorted(p.values)
            try:
                row.append(values.index(point[p.name]))
            except (KeyError, ValueError):
                raise SpecError(f"{spec.spec_path}: parameters: {p.name}: point value "
                                f"{point.get(p.name)!r} is not one of {values}") from None
        rows.append(row)
    return rows


def render_spec(spec: ResolvedSpec, rundir: Path,
                points: list[dict] | None = None) -> ResolvedSpec:
    """render_study for an already validated spec."""
    if points is not None:
        spec = spec.with_points(len(points))
    else:
        check_samples(spec, spec.spec_path)
    rundir = rundir.resolve()
    files = RunDir(rundir)
    resolved = files.spec
    refuse_foreign(rundir)
    if resolved.exists():
        try:
            previous = read_resolved(resolved)
        except SpecError:
            previous = None  # a damaged copy is replaced; the records say what was evaluated
        differs = previous and spec_difference(previous.to_json(), spec.to_json())
        if files.has_results() and previous and differs:
            raise SpecError(f"{rundir}: holds evaluations of a different spec "
                            f"({previous.spec_path}): {differs}; choose another -o, "
                            "or restore that field")
    # Dakota splits the analysis driver string on whitespace and its deck quotes it with
    # ', and driver.sh / job.sh pass these paths to a shell (quoted, too): only paths made
    # of characters that none of them treats specially are accepted.
    for path in (sys.executable, str(rundir)):
        bad = sorted({c for c in path if not (c.isalnum() or c in SAFE_PATH_CHARACTERS)})
        if bad:
            shown = " ".join(repr(c) for c in bad)
            raise SpecError(f"{path}: path contains {shown}, which Dakota's deck or the job's "
                            "shell cannot carry safely; use a run directory of letters, "
                            f"digits and {' '.join(SAFE_PATH_CHARACTERS)}")
    rundir.mkdir(parents=True, exist_ok=True)
    context = {"spec": spec, "rundir": str(rundir), "python": sys.executable,
               "spec_file": str(resolved), "slurm": spec.execution.slurm,
               "cpus": spec.execution.slurm.cpus_per_task}
    if points is not None:
        context["point_indices"] = point_indices(spec, points)
    deck = render("dakota_study.in.j2", variable_groups=variable_groups(spec),
                  driver_command=str(files / RunDir.DRIVER_SCRIPT), callback=inprocess.CALLBACK,
                  python_batch=python_batch(spec), **context)
    files.write_spec(spec)
    _write(files / RunDir.DRIVER_SCRIPT, render("driver.sh.j2", **context), executable=True)
    _write(files / RunDir.JOB_SCRIPT, render("job.sh.j2", **context), executable=True)
    _write(files.deck, deck)
    complaint = check_deck(rundir, spec, deck)
    if complaint:
        files.deck.unlink()  # no deck Dakota cannot read stays behind to be run
        raise SpecError(f"{spec.spec_path}: Dakota refuses the rendered deck: {complaint}")
    return spec


def check_deck(rundir: Path, spec: ResolvedSpec, deck: str) -> str | None:
    """Dakota's verdict on the rendered deck (``dakota -check`` for the fork interface, the
    in-process parser for the python one): None, or its complaint in one line."""
    if spec.execution.interface == "python":
        return inprocess.check(deck)
    try:
        proc = subprocess.run([dakota_executable(), "-check", "-i", RunDir.DECK], cwd=rundir,
                              capture_output=True, text=True, timeout=60)
    except (SpecError, OSError, subprocess.TimeoutExpired):
        return None  # no dakota here (a site's own one may run it): nothing to check with
    if proc.returncode == 0:
        return None
    lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines()
             if "error" in line.lower()]
    return (lines or [f"dakota -check exited with status {proc.returncode}"])[0][:400]
