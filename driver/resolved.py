"""The resolved study spec: one frozen, typed description of a study, built once from the
YAML (:func:`driver.spec.load_spec`) or read back from a run directory's
``spec.resolved.json`` (:func:`driver.rundir.read_resolved`, its one reader), whose layout
:meth:`ResolvedSpec.to_json` writes.

Parameters carry their kind, values, unit, role and transform; the backend's settings are a
read-only mapping (their meaning belongs to the family and backend that declare them); the
family and backend class are resolved once, on first use. Only the standard library's
already-loaded modules are used: the fork driver builds one per evaluation, and the
``dataclasses`` module alone would add ~6 ms to each (measured with ``-X importtime``).
"""
from __future__ import annotations

import math
from functools import cached_property
from types import MappingProxyType

TYPE_CHECKING = False  # typing costs the driver milliseconds at start-up
if TYPE_CHECKING:
    from typing import Any, Mapping

    from .families.backend import Backend
    from .families.base import Family


class Record:
    """A frozen record: its ``FIELDS`` are set once by ``__init__``; records compare and
    copy (:meth:`evolve`) field by field."""

    FIELDS: tuple[str, ...] = ()

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen; use evolve({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def _values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()  # type: ignore[attr-defined]  # same type

    __hash__ = None  # type: ignore[assignment]  # settings are a mapping: not hashable

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._values().items())
        return f"{type(self).__name__}({shown})"

    def evolve(self, **changes: Any) -> Any:
        """A copy with ``changes`` (field name -> new value)."""
        unknown = sorted(set(changes) - set(self.FIELDS))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {unknown[0]!r}")
        return type(self)(**{**self._values(), **changes})


#: How each parameter kind reaches Python from Dakota (and from tabular files).
CAST = {"integer": int, "real": float, "categorical": str}


class Parameter(Record):
    """One swept parameter of a study: ``kind`` integer, real or categorical (the spec's
    ``type``); ``values`` as the kind types them (int, float or str); ``role``
    architecture or workload; ``transform`` how models see it (auto, none, log2, onehot,
    ordinal)."""

    FIELDS = ("name", "kind", "values", "role", "unit", "description", "transform")
    name: str
    kind: str
    values: tuple
    role: str
    unit: str
    description: str
    transform: str

    def __init__(self, name: str, kind: str, values: tuple, role: str, unit: str = "",
                 description: str = "", transform: str = "auto"):
        self._set(name=name, kind=kind, values=tuple(values), role=role, unit=unit,
                  description=description, transform=transform)

    @property
    def categorical(self) -> bool:
        return self.kind == "categorical"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind, "values": list(self.values),
                "role": self.role, "unit": self.unit, "description": self.description,
                "transform": self.transform}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Parameter:
        return cls(name=data["name"], kind=data["type"], values=tuple(data["values"]),
                   role=data["role"], unit=data.get("unit", ""),
                   description=data.get("description", ""),
                   transform=data.get("transform", "auto"))


class Sampling(Record):
    """How Dakota picks the points: lhs or random (``samples`` with ``seed``, then each of
    ``refinement_samples`` more), or grid (every combination once)."""

    FIELDS = ("method", "samples", "seed", "refinement_samples")
    method: str
    samples: int
    seed: int
    refinement_samples: tuple[int, ...]

    def __init__(self, method: str, samples: int, seed: int,
                 refinement_samples: tuple[int, ...] = ()):
        self._set(method=method, samples=samples, seed=seed,
                  refinement_samples=tuple(refinement_samples))

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "samples": self.samples, "seed": self.seed,
                "refinement_samples": list(self.refinement_samples)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sampling:
        return cls(data["method"], data["samples"], data["seed"],
                   tuple(data.get("refinement_samples", ())))


class Slurm(Record):
    """The batch job's ``#SBATCH`` settings (ntasks is the execution's concurrency)."""

    FIELDS = ("nodes", "cpus_per_task", "time", "modules", "mem_per_cpu", "partition",
              "account", "qos")
    nodes: int
    cpus_per_task: int
    time: str
    modules: tuple[str, ...]
    mem_per_cpu: str | None
    partition: str | None
    account: str | None
    qos: str | None

    def __init__(self, nodes: int = 1, cpus_per_task: int = 1, time: str = "1:00:00",
                 modules: tuple[str, ...] = (), mem_per_cpu: str | None = None,
                 partition: str | None = None, account: str | None = None,
                 qos: str | None = None):
        self._set(nodes=nodes, cpus_per_task=cpus_per_task, time=time, modules=tuple(modules),
                  mem_per_cpu=mem_per_cpu, partition=partition, account=account, qos=qos)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"nodes": self.nodes, "cpus_per_task": self.cpus_per_task,
                               "time": self.time, "modules": list(self.modules)}
        for name in ("mem_per_cpu", "partition", "account", "qos"):  # given ones only
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Slurm:
        return cls(**data)


class Execution(Record):
    """How evaluations run: the interface (fork or python), how many at once, points per
    driver call, the time-out of one evaluation (s) and the Slurm job's settings."""

    FIELDS = ("interface", "concurrency", "batch_size", "timeout_s", "slurm")
    interface: str
    concurrency: int
    batch_size: int
    timeout_s: float
    slurm: Slurm

    def __init__(self, interface: str, concurrency: int, batch_size: int, timeout_s: float,
                 slurm: Slurm | None = None):
        self._set(interface=interface, concurrency=concurrency, batch_size=batch_size,
                  timeout_s=timeout_s, slurm=slurm if slurm is not None else Slurm())

    def to_json(self) -> dict[str, Any]:
        return {"interface": self.interface, "concurrency": self.concurrency,
                "batch_size": self.batch_size, "timeout_s": self.timeout_s,
                "slurm": self.slurm.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Execution:
        return cls(data["interface"], data["concurrency"], data["batch_size"],
                   data["timeout_s"], Slurm.from_json(data.get("slurm", {})))


class Failure(Record):
    """What a failed evaluation does to the study: recover_nan, retry (``retries`` more
    times) or abort."""

    FIELDS = ("capture", "retries")
    capture: str
    retries: int

    def __init__(self, capture: str = "recover_nan", retries: int = 2):
        self._set(capture=capture, retries=retries)


def frozen(value: Any) -> Any:
    """``value`` read-only all the way down (mappings as MappingProxyType, lists as tuples)."""
    if isinstance(value, dict | MappingProxyType):
        return MappingProxyType({k: frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    return value


def thawed(value: Any) -> Any:
    """The plain JSON form of a :func:`frozen` value (dicts and lists)."""
    if isinstance(value, dict | MappingProxyType):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thawed(v) for v in value]
    return value


class ResolvedSpec(Record):
    """A validated study spec with its defaults filled and its paths made absolute:
    ``settings`` the backend's, read-only (see :func:`frozen`); ``spec_path`` the YAML file
    it came from (absolute)."""

    FIELDS = ("study", "parameters", "backend_name", "settings", "responses", "objective",
              "sampling", "execution", "failure", "spec_path", "description")
    study: str
    parameters: tuple[Parameter, ...]
    backend_name: str
    settings: Mapping[str, Any]
    responses: tuple[str, ...]
    objective: str
    sampling: Sampling
    execution: Execution
    failure: Failure
    spec_path: str
    description: str

    def __init__(self, study: str, parameters: tuple[Parameter, ...], backend_name: str,
                 settings: Mapping[str, Any], responses: tuple[str, ...], objective: str,
                 sampling: Sampling, execution: Execution, failure: Failure, spec_path: str,
                 description: str = ""):
        self._set(study=study, parameters=tuple(parameters), backend_name=backend_name,
                  settings=frozen(settings), responses=tuple(responses), objective=objective,
                  sampling=sampling, execution=execution, failure=failure,
                  spec_path=spec_path, description=description)

    # --- what it names ---------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names, in spec order."""
        return tuple(p.name for p in self.parameters)

    def parameter(self, name: str) -> Parameter:
        return next(p for p in self.parameters if p.name == name)

    @property
    def space_size(self) -> int:
        """Distinct design points: the product of the parameters' value counts."""
        return math.prod(len(p.values) for p in self.parameters)

    @property
    def total_evaluations(self) -> int:
        """Evaluations the study asks Dakota for (grid: every point once)."""
        if self.sampling.method == "grid":
            return self.space_size
        return self.sampling.samples + sum(self.sampling.refinement_samples)

    # --- resolved once -----------------------------------------------------------------
    @cached_property
    def backend_class(self) -> type[Backend]:
        from .families.registry import backend_class

        return backend_class(self.backend_name)

    @cached_property
    def family_class(self) -> type[Family]:
        from .families.registry import family_class

        return family_class(self.backend_class.family)

    @cached_property
    def family(self) -> Family:
        """The study's design-space family, answering for this spec."""
        return self.family_class(self)

    def make_backend(self, timeout_s: float | None = None) -> Backend:
        """The backend with this study's settings and evaluation time-out (or
        ``timeout_s``): the one place a backend is built from a spec."""
        return self.backend_class(self.settings,
                                  timeout_s=timeout_s or self.execution.timeout_s)

    # --- changed copies (each resolves its family again) -----------------------------------
    def with_settings(self, **changes: Any) -> ResolvedSpec:
        """A copy whose backend settings have ``changes`` (e.g. a benchmark's variant)."""
        return self.evolve(settings={**thawed(self.settings), **changes})

    def with_points(self, count: int) -> ResolvedSpec:
        """The spec of a Dakota list study of ``count`` chosen points."""
        return self.evolve(sampling=self.sampling.evolve(samples=count,
                                                         refinement_samples=()))

    def __reduce__(self):  # pickled as its JSON form (a read-only mapping cannot be)
        return ResolvedSpec.from_json, (self.to_json(),)

    # --- on disk -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The layout of ``spec.resolved.json``."""
        return {"study": self.study, "description": self.description,
                "parameters": [p.to_json() for p in self.parameters],
                "backend": {"name": self.backend_name, "settings": thawed(self.settings)},
                "sampling": self.sampling.to_json(), "execution": self.execution.to_json(),
                "failure": {"capture": self.failure.capture,
                            "retries": self.failure.retries},
                "spec_path": self.spec_path, "responses": list(self.responses),
                "objective": self.objective}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResolvedSpec:
        """From the layout of ``spec.resolved.json`` (KeyError/TypeError/ValueError if a
        field is missing or of the wrong shape: the reader turns those into one line)."""
        return cls(study=data["study"],
                   parameters=tuple(Parameter.from_json(p) for p in data["parameters"]),
                   backend_name=data["backend"]["name"],
                   settings=data["backend"].get("settings", {}),
                   responses=tuple(data["responses"]), objective=data["objective"],
                   sampling=Sampling.from_json(data["sampling"]),
                   execution=Execution.from_json(data["execution"]),
                   failure=Failure(**data.get("failure", {})),
                   spec_path=data["spec_path"], description=data.get("description", ""))
