"""The CNN family: inference of a convolutional network, profiled on this machine.

Backend: ``keras_profile`` (Keras on TensorFlow, timed in-process). A design point is

- ``network``: categorical, one of the Keras applications of :data:`networks.CATALOGUE`
  (built offline with ``weights=None``) or a name given to a user's own ``.keras`` file in
  ``backend.settings.models`` (a path is no categorical word: the name stands for it);
- ``resolution``: the input image side in px (square images);
- ``batch_size``: images per inference call;
- ``threads`` and ``device``: fixed per study in the settings (TensorFlow sets its thread
  pools once per process; the GPU path needs a GPU, refused without one).

Derived features (:mod:`.features`) are the dynamic code analysis of the program XLA
compiles for the point, counted per kind of operation and weighted by how often it runs
(:mod:`.hlo`), and a roofline estimate of the seconds from those counts. Models see the
features instead of the network's name (an identifier), so they can predict networks never
profiled; the designs compared with each other are the networks at one resolution and
batch size.
"""
from __future__ import annotations

from ..base import Family as _Base
from . import networks

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

    import pandas as pd

    from ...resolved import ResolvedSpec

NETWORK, RESOLUTION, BATCH = "network", "resolution", "batch_size"
FIXED_ONLY = ("threads", "device")
DEVICES = ("cpu", "gpu")

SETTINGS_SCHEMA: dict[str, Any] = {
    NETWORK: {"type": "string", "default": "MobileNetV2"},
    RESOLUTION: {"type": "integer", "minimum": 1, "default": 224},
    BATCH: {"type": "integer", "minimum": 1, "default": 1},
    "threads": {"type": "integer", "minimum": 1, "default": 1},
    "device": {"enum": list(DEVICES), "default": "cpu"},
    # name -> path of a user's .keras file; the name is then a value of `network`.
    "models": {"type": "object", "default": {},
               "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_.+-]*$"},
               "additionalProperties": {"type": "string"}},
    "warmups": {"type": "integer", "minimum": 0, "default": 2},
    "repeats": {"type": "integer", "minimum": 3, "default": 15},
    # Calls per timed sample: enough to last this long (CPU seconds).
    "min_sample_seconds": {"type": "number", "minimum": 0, "default": 0.05},
    # (q75 - q25) / median of the timed calls above this: timed again once, then failed.
    "max_spread": {"type": "number", "exclusiveMinimum": 0, "default": 0.2},
    # Analyse each point after timing it (fills the family's cache for training).
    "analyse": {"type": "boolean", "default": True},
    # Also analyse the program XLA compiles for a described H200 GPU (features ptx_*).
    "gpu_analysis": {"type": "boolean", "default": False},
    "roofline": {"type": "object", "additionalProperties": False, "default": {},
                 "properties": {name: {"type": "number", "exclusiveMinimum": 0}
                                for name in ("conv_dense_macs", "conv_depthwise_macs",
                                             "conv_grouped_macs", "dot_macs",
                                             "elementwise_ops", "transcendental_ops",
                                             "reduce_ops", "movement_elements",
                                             "other_elements", "bytes_per_s",
                                             "kernel_seconds")}},
}


def gpu_present() -> bool:
    import os

    return os.path.exists("/dev/nvidia0") or os.path.exists("/dev/nvidiactl")


def values_of(spec: ResolvedSpec, name: str) -> list:
    """The values a study takes for ``name``: swept, else the settings' one."""
    for p in spec.parameters:
        if p.name == name:
            return list(p.values)
    return [spec.settings[name]]


class Family(_Base):
    name = "cnn"
    settings_properties = SETTINGS_SCHEMA
    vocabulary = {
        NETWORK: "network: a Keras application or a name of backend.settings.models "
                 "(categorical)",
        RESOLUTION: "input image side (px)",
        BATCH: "images per inference call",
        "threads": "intra-op threads (fixed per study: backend.settings.threads)",
        "device": "where inference runs: cpu or gpu (fixed per study: backend.settings.device)",
    }
    identifiers = (NETWORK,)

    @classmethod
    def check(cls, spec: ResolvedSpec, fixed: Mapping[str, Any], where: str) -> None:
        from pathlib import Path

        from ...errors import SpecError

        swept = {p.name: p for p in spec.parameters}
        for name in FIXED_ONLY:
            if name in swept:
                raise SpecError(f"{where}: parameters: {name} cannot be swept (TensorFlow "
                                f"fixes it once per process); set backend.settings.{name}")
        if fixed["device"] == "gpu":
            reason = ("no GPU on this machine (no /dev/nvidia0)" if not gpu_present() else
                      "keras_profile times TensorFlow on the CPU; a GPU is profiled by "
                      "bench/gpu_profile.py (Keras on JAX)")
            raise SpecError(f"{where}: backend.settings.device: 'gpu': {reason}; allowed "
                            "here: cpu")
        users = fixed.get("models", {})
        allowed = sorted(networks.CATALOGUE) + sorted(users)
        for value in values_of(spec, NETWORK):
            if value not in allowed:
                field = f"parameters.{NETWORK}" if NETWORK in swept else \
                    f"backend.settings.{NETWORK}"
                raise SpecError(f"{where}: {field}: unknown network {value!r}; allowed: "
                                f"{', '.join(allowed)} (or a name of backend.settings.models)")
        for name in (RESOLUTION, BATCH):
            if name in swept and swept[name].kind != "integer":
                raise SpecError(f"{where}: parameters.{name}: must be whole numbers")
            low = min(values_of(spec, name))
            if low < 1:
                raise SpecError(f"{where}: parameters.{name}: {low} is not a positive count")
        for network in values_of(spec, NETWORK):
            for side in values_of(spec, RESOLUTION):
                if network in users:
                    shape = networks.keras_file_input(Path(users[network]))
                    if shape[0] not in (None, side) or shape[1] not in (None, side):
                        raise SpecError(f"{where}: parameters.{RESOLUTION}: {side} px: "
                                        f"{network} ({users[network]}) takes only "
                                        f"{shape[0]}x{shape[1]} images")
                elif side < networks.CATALOGUE[network][1]:
                    raise SpecError(f"{where}: parameters.{RESOLUTION}: {side} px is below "
                                    f"{network}'s smallest input, "
                                    f"{networks.CATALOGUE[network][1]} px; allowed for it: >= "
                                    f"{networks.CATALOGUE[network][1]}")

    @classmethod
    def resolve(cls, spec: ResolvedSpec, settings: dict[str, Any], where: str,
                spec_dir) -> None:
        """At spec load: user files made absolute and readable, then :meth:`check`."""
        from pathlib import Path

        from ...errors import SpecError

        for name, given in list(settings["models"].items()):
            path = Path(spec_dir, given).resolve()
            if name in networks.CATALOGUE:
                raise SpecError(f"{where}: backend.settings.models.{name}: the name of a "
                                "Keras application; give the file another name")
            if path.suffix != ".keras":
                raise SpecError(f"{where}: backend.settings.models.{name}: {given!r} is not "
                                "a .keras file; allowed: a model saved by Keras 3 "
                                "(model.save('net.keras'))")
            try:
                networks.keras_file_input(path)
            except (OSError, KeyError, ValueError) as err:
                raise SpecError(f"{where}: backend.settings.models.{name}: cannot read "
                                f"{path}: {getattr(err, 'strerror', None) or err}") from None
            settings["models"][name] = str(path)
        cls.check(spec, settings, where)

    def comparison_groups(self) -> tuple[str, ...]:
        """The networks at one resolution and batch size: which runs faster."""
        return (RESOLUTION, BATCH)

    def derived_sets(self) -> dict[str, tuple[str, ...]]:
        from .features import COUNT_FEATURES, ESTIMATE, GPU_DERIVED

        sets = {"hlo": COUNT_FEATURES, "macs": ("hlo_total_macs",), "estimate": (ESTIMATE,)}
        if self._gpu_analysis():
            sets["ptx"] = GPU_DERIVED
        return sets

    def derived_names(self) -> tuple[str, ...]:
        from .features import DERIVED, GPU_DERIVED

        return DERIVED + (GPU_DERIVED if self._gpu_analysis() else ())

    def _gpu_analysis(self) -> bool:
        return bool(self.spec.settings.get("gpu_analysis", False))

    def point(self, row: Mapping[str, Any]) -> tuple[str, int, int]:
        """(network, resolution, batch_size) of a design point (swept or fixed)."""
        return run_of(row, self.spec.settings)

    def add_derived(self, frame: pd.DataFrame) -> pd.DataFrame:
        from .features import add_derived

        return add_derived(frame, self.spec, self.point)

    def estimate_column(self, objective: str) -> str | None:
        return "est_seconds" if objective == "seconds" else None


def run_of(row: Mapping[str, Any], settings: Mapping[str, Any]) -> tuple[str, int, int]:
    """(network, resolution, batch_size) of a design point: its swept values, else the
    backend settings' fixed ones, else their defaults."""
    def value(name: str) -> Any:
        default = SETTINGS_SCHEMA[name]["default"]
        return row.get(name, settings.get(name, default))

    return str(value(NETWORK)), int(value(RESOLUTION)), int(value(BATCH))
