"""The study API: what every command, ``ml.explore``, the demo and the benchmarks call to
render, run, submit, resume, inspect and tabulate a study in a run directory.

>>> study = Study.render("dakota_inputs/kmeans.yaml", "runs/kmeans")
>>> study.run(quiet=True)      # Dakota here; 0 when the study finished
>>> study.tabular              # RUNDIR/tabular.dat

A run directory that already holds evaluations of the same spec is resumed, never
overwritten; one holding another spec's evaluations is refused (one-line SpecError).
The command line over it is ``python -m driver.study`` (:mod:`driver.study.__main__`).
"""
from __future__ import annotations

from pathlib import Path

from .. import records
from ..resolved import ResolvedSpec
from ..rundir import RunDir
from .dakota import dakota_executable
from .deck import render_spec, render_study
from .execute import check_runnable, exec_study

__all__ = ["Study", "dakota_executable", "exec_study", "render_spec", "render_study"]


class Study:
    """A study in a run directory (rendered, or about to be)."""

    def __init__(self, rundir: str | Path):
        self.files = RunDir(Path(rundir).resolve())

    @property
    def rundir(self) -> Path:
        return self.files.path

    @property
    def tabular(self) -> Path:
        return self.files.tabular

    @classmethod
    def render(cls, spec: str | Path | ResolvedSpec, rundir: str | Path,
               points: list[dict] | None = None) -> Study:
        """Validate ``spec`` (a spec file, or a spec :func:`driver.spec.load_spec` loaded)
        and write the run directory. ``points``: evaluate exactly these design points with
        a Dakota list study instead of the spec's sampling."""
        if isinstance(spec, ResolvedSpec):
            render_spec(spec, Path(rundir), points)
        else:
            render_study(Path(spec), Path(rundir), points)
        return cls(rundir)

    def spec(self) -> ResolvedSpec:
        """The resolved spec (one-line SpecError if this is no run directory)."""
        return self.files.read_spec()

    def run(self, quiet: bool = True, summary: bool = False) -> int:
        """Run Dakota here on the rendered deck (resuming what a killed run finished);
        0 when the study finished with at least one evaluation that succeeded."""
        return exec_study(self.rundir, quiet=quiet, summary=summary)

    def submit(self, reason: str = "submit") -> str:
        """sbatch the run's job (refused while a job of this run is queued or running);
        the Slurm job id. Dakota's restart file supplies finished evaluations."""
        from .. import slurm

        spec = self.spec()
        check_runnable(spec)
        slurm.refuse_if_active(self.rundir)
        return slurm.submit(self.rundir, spec, reason)

    def resume(self) -> str:
        """Resubmit a stopped or killed job: :meth:`submit`, named as a resume."""
        return self.submit("resume")

    def status(self) -> str:
        """Done / failed / running / remaining, the Slurm job's state, failure reasons."""
        from .status import status

        return status(self.rundir)

    def write_tabular(self) -> int:
        """Rebuild ``tabular.dat`` from cyclecast's own records (after a kill Dakota's
        buffered file may hold only its header); the number of evaluations written."""
        return records.write_tabular(self.spec(), self.rundir, self.tabular)
