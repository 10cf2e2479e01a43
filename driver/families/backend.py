"""The contract every simulator backend implements.

A backend lives in its family's ``backends/`` folder (``driver/families/<family>/backends/
<name>.py``, a class named ``Backend``) and only evaluates: it turns one design point (a
dict of parameter name -> value, in the units the study spec names: int, float, or str for
a categorical parameter) into responses (a dict of response name -> float). Its family
owns everything about the design space (vocabulary, the settings its backends share, the
checks a spec must pass, the parameters a point consumes); a backend declares only what is
its own: its responses, its own settings (e.g. where its simulator is) and how to find
its simulator. Rendering simulator inputs, running the simulator and parsing its output are
kept in separate functions inside each backend module so that parsing can be tested on
real recorded outputs without the simulator.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Mapping


class Backend:
    """Base class of simulator backends.

    Subclasses set:

    ``name``
        The string used in a study spec (``backend: {name: ...}``): the module's name.
    ``family``
        The name of the family whose folder holds the backend (checked by the registry).
    ``settings_properties``
        JSON schema properties of the backend's own ``backend.settings`` (beside its
        family's ``settings_properties``); their ``default`` values are filled at load.
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
    settings_properties: dict[str, Any] = {}
    response_names: tuple[str, ...] = ()
    objectives: tuple[str, ...] = ()
    response_kinds: dict[str, str] = {}

    def __init__(self, settings: Mapping[str, Any], timeout_s: float = 600.0):
        """``settings``: the resolved ``backend.settings`` of a loaded spec;
        ``timeout_s``: wall-clock limit of one evaluation (the spec's execution.timeout_s)."""
        self.settings = dict(settings)
        self.timeout_s = timeout_s

    @classmethod
    def complete_settings(cls, settings: dict[str, Any], where: str, spec_dir: Path) -> None:
        """Complete the backend's own settings in place, once at spec load, after its
        family resolved the spec: e.g. make its simulator's path absolute against
        ``spec_dir``. Raise SpecError (one line starting with ``where``) for a setting it
        cannot use. Default: nothing to do."""

    @classmethod
    def unavailable_reason(cls, settings: Mapping[str, Any]) -> str | None:
        """Why this backend cannot run on this machine (e.g. simulator not installed),
        or None when it can. Tests skip a backend's live runs with this reason."""
        return None

    def evaluate(self, point: Mapping[str, Any], workdir: Path) -> Mapping[str, float | str]:
        """Simulate one design point in ``workdir`` (exists, empty or reused) and return
        responses (floats), with an optional ``note`` (text: the backend's word on the
        result, e.g. why a design is invalid); raise EvaluationFailed when it fails."""
        raise NotImplementedError
