"""One exploration round = one Dakota study in ``OUT/rounds/NN/``: round 0 with the spec's
own Dakota sampling (LHS or random, ``--start`` samples), later rounds with a Dakota list
parameter study of the points cyclecast chose. A killed round resumes from Dakota's restart
file and the driver's per-point memo, so a finished evaluation never runs twice."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pandas as pd

from driver import records
from driver.errors import SpecError
from driver.resolved import ResolvedSpec
from driver.study import Study

from .data import read_table
from .errors import DataError

logger = logging.getLogger(__name__)

POINTS = ".points.json"


def round_dir(out: Path, number: int) -> Path:
    return out / "rounds" / f"{number:02d}"


def run_round(spec: ResolvedSpec, directory: Path, points: list[dict] | None, slurm: bool,
              quiet: bool, objective: str) -> pd.DataFrame:
    """Simulate the round's points (or the spec's sampling when None); return its finished
    evaluations (design parameters and responses, failed ones dropped)."""
    if points is None:
        spec = spec.evolve(sampling=spec.sampling.evolve(refinement_samples=()))
    try:
        study = Study.render(spec, directory, points)
        if slurm:
            _run_under_slurm(study, quiet)
        elif study.run(quiet=quiet) != 0:
            raise DataError(f"{directory}: the round's Dakota study failed (see "
                            f"{study.files / study.files.DAKOTA_ERR}); run ml.explore again "
                            "to resume it")
        study.write_tabular()  # complete even if Dakota's was buffered
    except SpecError as err:
        raise DataError(str(err)) from None
    return read_table(study.tabular, objective).frame


def _run_under_slurm(study: Study, quiet: bool) -> None:
    """sbatch the round's job.sh (Dakota, one srun step per evaluation) and wait for it."""
    from driver import slurm

    directory, spec = study.rundir, study.spec()
    active = slurm.active_job(directory)
    job = active[0] if active else study.submit("ml.explore round")
    if not quiet:
        logger.info("Slurm job %s: %s", job, directory)
    while slurm.job_state(job) in slurm.ACTIVE_STATES:
        time.sleep(2)
    done, _ = records.progress(directory)
    wanted = spec.sampling.samples
    if done < wanted:
        raise DataError(f"{directory}: Slurm job {job} ended ({slurm.job_state(job)}) after "
                        f"{done} of {wanted} evaluations; run ml.explore again to resume")


def points_file(directory: Path) -> Path:
    """The chosen points of a round, beside its run directory (rounds/NN.points.json)."""
    return directory.with_name(directory.name + POINTS)


def save_points(directory: Path, points: list[dict]) -> None:
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = points_file(directory).with_suffix(".tmp")
    tmp.write_text(json.dumps(points))
    tmp.replace(points_file(directory))


def load_points(directory: Path) -> list[dict] | None:
    try:
        return json.loads(points_file(directory).read_text())
    except FileNotFoundError:
        return None


def simulator_runs(out: Path) -> int:
    """Backend runs over all rounds (answers from the memo not counted)."""
    directories = (d for d in (out / "rounds").glob("[0-9][0-9]") if d.is_dir())
    return sum(len(records.simulator_runs(d)) for d in directories)
