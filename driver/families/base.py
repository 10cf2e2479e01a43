"""The contract every design-space family implements.

A family is what one kind of design space knows beyond a single evaluation: the words of
its parameters, the settings its backends share and the checks a spec must pass, the rules
a design must obey, the features a model can compute for a design point without evaluating
it, an analytic estimate of the objective a model can learn the correction of, and the cost
axes (what a design costs to build) that budgets and Pareto fronts use. Its backends (an
embedded evaluator and the real simulator) live in its ``backends/`` folder and only
evaluate, so their studies get the same checks, features and answers.

Everything above the backends (``ml/``, the study commands) asks the family and never
names a concept of one kind of space. The driver imports families on every evaluation:
module level code stays light (no numpy or pandas until a method needs them).
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Mapping

    import pandas as pd

    from ..resolved import ResolvedSpec
    from .backend import Backend


class Family:
    """Base class of design-space families; the default knows nothing beyond the spec.

    A family module ``driver.families.<name>`` (registered in :data:`driver.families.FAMILIES`)
    exposes a subclass named ``Family``. It is
    constructed with a loaded spec (``driver.spec.load_spec``) and answers for that study.
    Subclasses set ``name`` and ``vocabulary`` and override what they can compute.
    """

    #: The string backends use in ``Backend.family``.
    name: str = ""
    #: Parameter names this family gives a meaning to, with a short description (units in
    #: the description). Backends consume these, plus parameters of their own settings.
    vocabulary: dict[str, str] = {}

    #: JSON schema properties of the ``backend.settings`` every backend of this family
    #: takes (a backend adds its own ``settings_properties``).
    settings_properties: dict[str, Any] = {}

    #: Parameters that name a design point instead of describing it (e.g. the id of a
    #: generated schedule): models see the derived features instead, where there are any.
    identifiers: tuple[str, ...] = ()

    def __init__(self, spec: ResolvedSpec):
        self.spec = spec

    # --- spec time -------------------------------------------------------------------
    @classmethod
    def backends(cls) -> list[str]:
        """Names of this family's backends: the modules of its ``backends/`` folder."""
        from .registry import available_backends

        return sorted(n for n, family in available_backends().items() if family == cls.name)

    @classmethod
    def settings_schema(cls, backend: type[Backend]) -> dict[str, Any]:
        """JSON schema (draft 2020-12) of ``backend.settings`` for one of its backends: the
        family's properties and the backend's own; any other key is an error (a typo would
        otherwise silently simulate a default)."""
        return {"type": "object", "additionalProperties": False,
                "properties": {**cls.settings_properties, **backend.settings_properties}}

    @classmethod
    def resolve(cls, spec: ResolvedSpec, settings: dict[str, Any], where: str,
                spec_dir: Path) -> None:
        """Check a spec being loaded and complete its ``settings`` (a mutable copy of the
        spec's, validated, defaults filled) in place, once: raise SpecError (one line
        starting with ``where``) for a spec no design of this family answers, and make
        relative paths absolute against ``spec_dir``."""

    @classmethod
    def consumed_parameters(cls, spec: ResolvedSpec) -> set[str]:
        """Names of the parameters this family's backends give a meaning to, for a spec
        ``resolve`` completed. A swept parameter outside this set is refused at load (a
        typo would otherwise silently simulate a default). Default: the vocabulary."""
        return set(cls.vocabulary)

    @classmethod
    def check(cls, spec: ResolvedSpec, fixed: Mapping[str, Any], where: str) -> None:
        """Raise SpecError (one line starting with ``where``) unless every combination of
        the spec's allowed values is a design this family can build. ``fixed``: values of
        vocabulary words the backend settings fix instead of sweeping."""

    def fixed(self) -> Mapping[str, Any]:
        """The ``fixed`` of :meth:`check` for this study: what its backend settings fix."""
        return {}

    # --- what a model can know without evaluating -------------------------------------
    def derived_names(self) -> tuple[str, ...]:
        """Names of the derived features :meth:`add_derived` computes for this study (in
        model-input order, already transformed: no further log needed); empty if none."""
        return ()

    def derived_sets(self) -> dict[str, tuple[str, ...]]:
        """Named subsets of :meth:`derived_names` a model may be given instead of all of
        them (``ml.train --features NAME``: the spec's parameters plus that set)."""
        return {}

    def comparison_groups(self) -> tuple[str, ...]:
        """Columns whose values together name a group of designs a user compares with each
        other (e.g. the schedules of one layer on one accelerator); reports then give the
        share of pairs within a group a model orders right. Empty: no such groups."""
        return ()

    def add_derived(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (one row per design point, a column per parameter) with the
        :meth:`derived_names` columns added. Raise SpecError when they cannot be computed."""
        return frame

    def estimate_column(self, objective: str) -> str | None:
        """The derived column holding log2 of an analytic estimate of ``objective`` (a
        model may learn the correction objective / 2**column), or None."""
        return None

    # --- what a design costs -------------------------------------------------------------
    def cost_axes(self) -> dict[str, str]:
        """Cost axis name -> unit, for the axes this study's designs differ in (lower is
        cheaper); empty when none. Budgets and Pareto fronts use them."""
        return {}

    def costs(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One column per :meth:`cost_axes` entry, one row per row of ``frame``."""
        import pandas as pd

        return pd.DataFrame(index=frame.index)
