"""The accelerator family: one DNN layer, scheduled on a Simba-like accelerator.

Backends: ``zigzag`` (embedded: ZigZag's cost model in-process) and ``timeloop``
(``timeloop-model`` when present). A design point is (accelerator, layer, schedule):

- the accelerator (:mod:`.arch`): the six integer/real fields of :data:`arch.ACCEL_FIELDS`
  swept or fixed in ``backend.settings.accelerator``, or a ``preset`` (categorical: the
  five designs of Hong's Table 1) swept or fixed;
- the layer (:mod:`.layers`): ``layer``, categorical over ResNet-50's 24 distinct layers;
- the schedule (:mod:`.schedule`): ``schedule``, an integer id from which
  :func:`.generate.generate` derives one deterministically (of the kind and seed the
  settings name), or an explicit mapping file (``backend.settings.mapping``).

Validity (buffer capacities, fan-outs) is the family's own check, identical for every
backend: an invalid schedule evaluates to ``valid = 0`` without a cycle count. Derived
features (:mod:`.features`) are computed for any design point without evaluating it.
"""
from __future__ import annotations

from ..base import Family as _Base
from . import arch
from .designs import COST_AXES, KIND, LAYER, PRESET, SCHEDULE, SETTINGS_SCHEMA, accelerator, design
from .layers import RESNET50

__all__ = ["COST_AXES", "KIND", "LAYER", "PRESET", "SCHEDULE", "SETTINGS_SCHEMA", "Family",
           "accelerator", "design"]

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

    import pandas as pd

    from ...resolved import ResolvedSpec

class Family(_Base):
    name = "accelerator"
    settings_properties = SETTINGS_SCHEMA
    vocabulary = {
        **{name: f"{text} ({unit})" if unit else text
           for name, (text, unit) in arch.ACCEL_FIELDS.items()},
        PRESET: "one of Hong's Table 1 accelerators (categorical)",
        LAYER: "ResNet-50 layer (categorical)",
        SCHEDULE: "schedule id: the generator's schedule number (integer)",
        KIND: "which schedules the generator draws: valid, invalid or any (categorical)",
    }

    def fixed(self) -> Mapping[str, Any]:
        return self.spec.settings

    @classmethod
    def check(cls, spec: ResolvedSpec, fixed: Mapping[str, Any], where: str) -> None:
        import itertools

        from ...errors import SpecError

        swept = {p.name: p.values for p in spec.parameters}
        if PRESET in swept and swept.keys() & arch.ACCEL_FIELDS.keys():
            both = sorted(swept.keys() & arch.ACCEL_FIELDS.keys())
            raise SpecError(f"{where}: parameters: {PRESET} and {', '.join(both)} are both "
                            "swept; a preset fixes every accelerator field")
        for name, allowed in ((LAYER, RESNET50), (PRESET, arch.PRESETS),
                              (KIND, SETTINGS_SCHEMA[KIND]["enum"])):
            for value in swept.get(name, ()):
                if value not in allowed:
                    raise SpecError(f"{where}: parameters.{name}: {value!r}; allowed: "
                                    f"{', '.join(sorted(allowed))}")
        fields = [n for n in arch.ACCEL_FIELDS if n in swept]
        base = {**arch.PRESETS["simba_final"].as_dict(), **fixed.get("accelerator", {})}
        for values in itertools.product(*(swept[n] for n in fields)):
            accel = arch.Accelerator(**{**base, **dict(zip(fields, values, strict=True))})
            problems = accel.problems()
            if problems:
                raise SpecError(f"{where}: parameters: {problems[0]} "
                                f"(at {dict(zip(fields, values, strict=True))})")

    @classmethod
    def resolve(cls, spec: ResolvedSpec, settings: dict[str, Any], where: str,
                spec_dir) -> None:
        """What every backend of this family does at spec load: check the designs, read an
        explicit mapping file."""
        from pathlib import Path

        from ...errors import SpecError

        cls.check(spec, settings, where)
        if "mapping" in settings:
            import yaml

            path = Path(spec_dir, settings["mapping"]).resolve()
            swept = {p.name for p in spec.parameters}
            clash = sorted(swept & {SCHEDULE, LAYER, KIND})
            if clash:
                raise SpecError(f"{where}: backend.settings.mapping fixes one schedule of one "
                                f"layer; do not also sweep {', '.join(clash)}")
            from ...spec import DuplicateKey, load_yaml

            try:
                text = load_yaml(path.read_text(encoding="utf-8"))
            except DuplicateKey as err:
                raise SpecError(f"{where}: backend.settings.mapping: {path}: line {err.line}: "
                                f"key {err.key!r} given twice") from None
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
                raise SpecError(f"{where}: backend.settings.mapping: cannot read {path}: "
                                f"{getattr(err, 'strerror', None) or err}") from None
            from .layers import layer as layer_named
            from .schedule import check_text

            check_text(text, layer_named(settings[LAYER]), f"{path}")
            settings["mapping"], settings["mapping_schedule"] = str(path), text

    identifiers = (SCHEDULE,)

    def comparison_groups(self) -> tuple[str, ...]:
        """The schedules of one layer on one accelerator (Hong's comparison accuracy)."""
        return (LAYER, PRESET, *arch.ACCEL_FIELDS)

    def derived_sets(self) -> dict[str, tuple[str, ...]]:
        from .features import COSA, SCHEDULE_FEATURES

        return {"schedule": SCHEDULE_FEATURES, "cosa": COSA}

    def derived_names(self) -> tuple[str, ...]:
        sets = self.derived_sets()
        return sets["schedule"] + sets["cosa"]

    def add_derived(self, frame: pd.DataFrame) -> pd.DataFrame:
        from .features import add_derived

        return add_derived(frame, self.spec.settings)

    def estimate_column(self, objective: str) -> str | None:
        return "est_cycles" if objective == "cycles" else None

    def cost_axes(self) -> dict[str, str]:
        swept = {p.name for p in self.spec.parameters}
        return dict(COST_AXES) if swept & (set(arch.ACCEL_FIELDS) | {PRESET}) else {}

    def costs(self, frame: pd.DataFrame) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        out = pd.DataFrame(index=frame.index)
        if not self.cost_axes():
            return out
        settings = self.spec.settings
        designs = [accelerator(row, settings) for row in frame.to_dict("records")]
        out["macs"] = np.array([a.macs for a in designs], dtype=float)
        out["on_chip_kib"] = np.array([a.pes * (a.accum_buffer_kib + a.weight_buffer_kib
                                                + a.input_buffer_kib) + a.global_buffer_kib
                                       for a in designs])
        return out
