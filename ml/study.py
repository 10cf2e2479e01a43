"""What ml/ needs to know of a study besides its data: which spec describes it, what its
objective is, and whether a response is a 0/1 flag (learned by a classifier)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from driver.rundir import RunDir

from .errors import DataError

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from driver.resolved import ResolvedSpec


def study_spec(tabular: Path, spec: Path | None) -> Path | None:
    """The spec of a tabular file: ``spec`` when given, else the run directory's resolved
    spec beside it (``RUNDIR/tabular.dat`` and ``RUNDIR/spec.resolved.json``), else None."""
    if spec is not None:
        return spec
    beside = RunDir(Path(tabular).parent).spec
    return beside if beside.is_file() else None


def objective(spec: ResolvedSpec | None, response: str | None, where: str) -> str:
    """The response to learn: ``response`` when given, else the spec's objective."""
    if response:
        return response
    if spec is None:
        raise DataError(f"{where}: no study spec names the objective; pass --response NAME "
                        "(a column of the file) or --spec SPEC")
    return spec.objective


def binary_response(spec: ResolvedSpec | None, name: str, values: np.ndarray) -> bool:
    """Is ``name`` a 0/1 flag? Declared by the spec's backend; without a spec, a column of
    only 0 and 1 is one."""
    if spec is not None:

        return spec.backend_class.response_kinds.get(name) == "binary"
    return bool(len(values)) and set(np.unique(values).tolist()) <= {0.0, 1.0}
