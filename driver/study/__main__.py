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
import sys
from pathlib import Path

from ..cli import Parser, run_cli
from ..errors import SpecError
from ..rundir import RunDir
from ..spec import check_samples, load_spec
from . import Study
from .lock import hold


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m driver.study", description=__doc__.split("\n\n")[0],
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
        Study.render(args.spec, args.out)
        print(f"rendered {args.out / RunDir.DECK}")
        return 0
    if args.command == "run":
        spec = load_spec(args.spec)  # a bad spec is refused before anything is created
        check_samples(spec, str(args.spec))
        hold(args.out)
        return Study.render(spec, args.out).run(quiet=args.quiet, summary=True)
    if args.command == "exec":
        return Study(args.rundir).run(quiet=args.quiet, summary=True)
    if args.command in ("submit", "resume"):
        target = args.spec if args.command == "submit" else args.rundir
        if args.command == "resume" or target.is_dir():
            study = Study(target)
        elif args.out is None:
            raise SpecError(f"{target}: submit SPEC needs -o RUNDIR")
        else:
            study = Study.render(target, args.out)
        job_id = study.resume() if args.command == "resume" else study.submit()
        print(f"submitted job {job_id} for {study.rundir}; follow it with "
              f"`python -m driver.study status {study.rundir}`")
        return 0
    if args.command == "status":
        print(Study(args.rundir).status())
        return 0
    study = Study(args.rundir)
    rows = study.write_tabular()
    print(f"wrote {rows} evaluations to {args.rundir / RunDir.TABULAR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
