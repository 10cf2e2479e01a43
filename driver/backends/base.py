"""The contract every simulator backend implements.

A backend turns one design point (a dict of parameter name -> value, in the units the
study spec names: int, float, or str for a categorical parameter) into responses (a dict
of response name -> float). It declares the design-space family it belongs to, the
parameters it consumes, its responses and which of them can be a study's objective.
Rendering simulator inputs, running the simulator and parsing its output are kept in
separate functions inside each backend module so that parsing can be tested on real
recorded outputs without the simulator.
"""
from __future__ import annotations

from pathlib import Path

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping



class EvaluationFailed(Exception):
    """One evaluation failed (crash, timeout, unparsable output). The study goes on."""

    def __init__(self, reason: str, kind: str = "error"):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # short tag: crash | timeout | garbage | error


class SpecError(ValueError):
    """Bad user input; the message is one line naming file, field and allowed values."""


class Backend:
    """Base class of simulator backends.

    A backend module ``driver.backends.<name>`` exposes a subclass named ``Backend``.
    Subclasses set:

    ``name``
        The string used in a study spec (``backend: {name: ...}``).
    ``settings_schema``
        JSON schema (draft 2020-12) for the spec's ``backend.settings``; its
        ``default`` values are filled in when the spec is loaded.
    ``family``
        The design-space family (``driver.families.<family>``) whose vocabulary, derived
        features, estimate and cost axes apply to this backend's studies.
    ``response_names``
        Every response the backend can produce.
    ``objectives``
        The responses that can be a study's objective, the default first. A 0/1 response
        such as ``valid`` is listed in ``response_kinds`` as ``binary`` (trained as a
        classifier); every other response is a positive real quantity.
    """

    name: str = ""
    family: str = "generic"
    #: True for a backend that computes in Python (no simulator process): the python
    #: interface then calls it directly instead of shipping points to worker processes.
    in_process: bool = False
    #: For an in_process backend whose evaluations take milliseconds (not microseconds):
    #: with concurrency > 1, spread them over worker processes (each imports the backend
    #: once), chunks of points at a time; the overhead of shipping a point is ~0.1 ms.
    parallel: bool = False
    settings_schema: dict[str, Any] = {"type": "object", "additionalProperties": False,
                                       "properties": {}}
    response_names: tuple[str, ...] = ()
    objectives: tuple[str, ...] = ()
    response_kinds: dict[str, str] = {}

    def __init__(self, settings: Mapping[str, Any], timeout_s: float = 600.0):
        """``settings``: the resolved ``backend.settings`` of a loaded spec;
        ``timeout_s``: wall-clock limit of one evaluation (the spec's execution.timeout_s)."""
        self.settings = dict(settings)
        self.timeout_s = timeout_s

    @classmethod
    def resolve(cls, spec: dict[str, Any], where: str, spec_dir: Path) -> None:
        """Check and complete the backend's part of a loaded spec, in place.

        Called once at spec load, before anything runs, after ``settings`` were
        validated against ``settings_schema``. Raise SpecError (one line starting with
        ``where``) for a spec this backend cannot run, e.g. an impossible cache geometry;
        make relative paths absolute against ``spec_dir``.
        """

    @classmethod
    def consumed_parameters(cls, spec: dict[str, Any]) -> set[str]:
        """Names of the parameters this backend gives a meaning to, for a spec whose
        settings ``resolve`` completed. A swept parameter outside this set is refused at
        load (a typo would otherwise silently simulate a default). Default: the family's
        vocabulary."""
        from ..families import family_class

        return set(family_class(cls.family).vocabulary)

    @classmethod
    def unavailable_reason(cls, settings: Mapping[str, Any]) -> str | None:
        """Why this backend cannot run on this machine (e.g. simulator not installed),
        or None when it can. Tests skip a backend's live runs with this reason."""
        return None

    def evaluate(self, point: Mapping[str, Any], workdir: Path) -> dict[str, float]:
        """Simulate one design point in ``workdir`` (exists, empty or reused) and return
        responses; raise EvaluationFailed when the simulation fails."""
        raise NotImplementedError
