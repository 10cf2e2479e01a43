"""What a design point of the accelerator family is: its vocabulary's names, the settings
every backend of the family takes, and the (accelerator, layer, schedule) a point names."""
from __future__ import annotations

from . import arch
from .layers import RESNET50

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

PRESET = "preset"
LAYER = "layer"
SCHEDULE = "schedule"
KIND = "schedule_kind"
COST_AXES = {"macs": "MACs", "on_chip_kib": "KiB"}

SETTINGS_SCHEMA: dict[str, Any] = {
    "accelerator": {
        "type": "object", "additionalProperties": False,
        "default": arch.PRESETS["simba_final"].as_dict(),
        "properties": {name: {"type": "integer" if name in ("pes", "macs") else "number",
                              "exclusiveMinimum": 0} for name in arch.ACCEL_FIELDS},
    },
    PRESET: {"enum": sorted(arch.PRESETS)},
    LAYER: {"enum": sorted(RESNET50), "default": "res2_3x3_64"},
    KIND: {"enum": ["valid", "invalid", "any"], "default": "valid"},
    "schedule_seed": {"type": "integer", "minimum": 0, "default": 0},
    "mapping": {"type": "string"},
}


def accelerator(point: Mapping[str, Any], settings: Mapping[str, Any]) -> arch.Accelerator:
    """The accelerator of a design point: its preset, else its fields, else the settings'."""
    preset = point.get(PRESET, settings.get(PRESET))
    if preset is not None:
        return arch.PRESETS[preset]
    fixed = {**arch.PRESETS["simba_final"].as_dict(), **settings.get("accelerator", {})}
    return arch.Accelerator(**{k: point.get(k, fixed[k]) for k in arch.ACCEL_FIELDS})


def design(point: Mapping[str, Any], settings: Mapping[str, Any]):
    """(accelerator, layer, schedule, violations) of a design point: what every backend of
    this family evaluates, and the constraints the schedule breaks (empty when valid)."""
    from .generate import generate
    from .layers import layer as layer_named
    from .schedule import violations

    accel = accelerator(point, settings)
    layer = layer_named(point.get(LAYER, settings[LAYER]))
    if "mapping_schedule" in settings:  # an explicit mapping, read at spec load
        from .schedule import check_text

        schedule = check_text(settings["mapping_schedule"], layer, settings["mapping"])
        return accel, layer, schedule, violations(accel, layer, schedule)
    schedule, broken = generate(accel, layer, point.get(KIND, settings[KIND]),
                                int(point.get(SCHEDULE, 0)), settings["schedule_seed"])
    return accel, layer, schedule, broken
