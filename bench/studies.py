"""How a benchmark runs the study it measures: through the study API, in this process
(as ``python -m driver.study run SPEC -o RUNDIR -q`` would), and that command, with paths
relative to the checkout, for the results file to name."""
from __future__ import annotations

from pathlib import Path

from driver.study import Study

ROOT = Path(__file__).resolve().parents[1]


def run_study(spec: Path, rundir: Path) -> None:
    """Run (or resume) the study of ``spec`` in ``rundir``; stop the benchmark on failure."""
    if Study.render(spec, rundir).run(quiet=True) != 0:
        raise SystemExit(f"{rundir}: the study failed (see its dakota.err); run the "
                         "benchmark again to resume it")


def study_command(spec: Path, rundir: Path) -> str:
    def shown(path: Path) -> Path:
        path = Path(path).resolve()
        return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path

    return f"python -m driver.study run {shown(spec)} -o {shown(rundir)} -q"
