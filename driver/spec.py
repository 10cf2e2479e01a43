"""Load a study spec: parse YAML safely, validate against the schema, fill defaults,
check what the schema cannot (unique names, the family's and backend's own rules), and
return the :class:`~driver.resolved.ResolvedSpec` every other part of cyclecast derives
from.

Every problem is a :class:`SpecError` whose message is one line:
``<file>: <field>: <what is wrong and what is allowed>``.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import SpecError
from .families import backend_class, family_class
from .resolved import ResolvedSpec, thawed
from .spec_schema import SPEC


def _with_defaults(validator_class):
    """A validator class that also fills ``default`` values into the instance."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def field_name(path) -> str:
    """``['parameters', 2, 'role']`` -> ``parameters[2].role``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate(instance: Any, schema: dict, where: str, prefix: tuple = ()) -> None:
    """Validate ``instance`` in place (filling defaults) or raise a one-line SpecError."""
    errors = list(_Validator(schema).iter_errors(instance))
    if errors:
        error = jsonschema.exceptions.best_match(errors)
        message = " ".join(error.message.split())
        raise SpecError(f"{where}: {field_name(prefix + tuple(error.absolute_path))}: {message}")


class DuplicateKey(Exception):
    def __init__(self, key: Any, line: int):
        super().__init__(key)
        self.key, self.line = key, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (the plain loader
    keeps the last silently: a study would run with a value its author did not mean)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise DuplicateKey(key, key_node.start_mark.line + 1)
            if isinstance(key, str | int | float | bool):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Safe YAML, refusing duplicate keys (raises DuplicateKey or yaml.YAMLError)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def _read_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The spec's mapping, with ``extends: OTHER.yaml`` resolved: the other file's keys,
    overridden key by key (mappings merged recursively, lists replaced) by this file's."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(f"{where}: cannot read study spec: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise SpecError(f"{where}: byte {err.start}: not UTF-8 text; a study spec is a "
                        "UTF-8 YAML file") from None
    try:
        spec = load_yaml(text)
    except DuplicateKey as err:
        raise SpecError(f"{where}: line {err.line}: key {err.key!r} given twice; a key may "
                        "appear once in a mapping") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{where}: {line}not valid YAML: {problem}") from None
    if not isinstance(spec, dict):
        raise SpecError(f"{where}: (top level): a study spec must be a mapping")
    base_name = spec.pop("extends", None)
    if base_name is None:
        return spec
    if not isinstance(base_name, str):
        raise SpecError(f"{where}: extends: must be the path of another spec")
    base_path = (path.parent / base_name).resolve()
    if base_path in chain + (path.resolve(),):
        raise SpecError(f"{where}: extends: {base_name} extends this file again (a cycle)")
    return _merge(_read_yaml(base_path, chain + (path.resolve(),)), spec)


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


MAX_RANGE = 1_000_000  # values of one range: Dakota holds each in its deck


def _type_parameter(p: dict[str, Any], where: str) -> None:
    """Fill ``type`` and normalise ``values`` (int, float or str) of one parameter."""
    if "range" in p:
        r = p.pop("range")
        if r["last"] < r["first"]:
            raise SpecError(f"{where}.range: last ({r['last']}) is below first ({r['first']})")
        if (r["last"] - r["first"]) // r["step"] >= MAX_RANGE:
            raise SpecError(f"{where}.range: more than {MAX_RANGE} values")
        p["values"] = list(range(r["first"], r["last"] + 1, r["step"]))
    values = p["values"]
    words = [v for v in values if isinstance(v, str)]
    if words and len(words) != len(values):
        raise SpecError(f"{where}.values: mixes numbers and words ({values[0]!r}, "
                        f"{words[0]!r}); a parameter is numeric or categorical")
    for v in values:
        if not words and not math.isfinite(v):
            raise SpecError(f"{where}.values: {v} is not a finite number")
    whole = not words and all(float(v).is_integer() for v in values)
    kind = p.setdefault("type", "categorical" if words else "integer" if whole else "real")
    if kind == "categorical" and not words:
        raise SpecError(f"{where}.type: categorical values must be words such as "
                        f"res2a_branch2b or kmeans; found {values[0]!r}")
    if kind != "categorical" and words:
        raise SpecError(f"{where}.type: {kind} values must be numbers; found {words[0]!r} "
                        "(use type: categorical)")
    if kind == "integer" and not whole:
        fraction = next(v for v in values if not float(v).is_integer())
        raise SpecError(f"{where}.values: type integer, but {fraction} is not a whole number "
                        "(use type: real)")
    # 16.0 -> 16: integer sets stay integer in the deck
    p["values"] = [int(v) if kind == "integer" else float(v) if kind == "real" else v
                   for v in values]
    allowed = ("auto", "onehot", "ordinal") if kind == "categorical" else ("auto", "none", "log2")
    if p["transform"] not in allowed:
        raise SpecError(f"{where}.transform: {p['transform']!r} does not apply to a {kind} "
                        f"parameter; allowed: {', '.join(allowed)}")
    if p["transform"] == "log2" and min(p["values"]) <= 0:
        raise SpecError(f"{where}.transform: log2 needs positive values; found "
                        f"{min(p['values'])}")


def _responses(raw: dict[str, Any], backend_cls, where: str) -> None:
    """Fill ``responses`` (default: the backend's) and ``objective`` (default: the backend's
    first objective among them, else the first response); check both."""
    responses = raw.setdefault("responses", list(backend_cls.response_names))
    for i, name in enumerate(responses):
        if name not in backend_cls.response_names:
            raise SpecError(f"{where}: responses[{i}]: {name!r} is not a response of backend "
                            f"{backend_cls.name!r}; allowed: "
                            f"{', '.join(backend_cls.response_names)}")
    default = next((o for o in backend_cls.objectives if o in responses), responses[0])
    objective = raw.setdefault("objective", default)
    if objective not in responses:
        raise SpecError(f"{where}: objective: {objective!r} is not among the study's responses; "
                        f"allowed: {', '.join(responses)}")


def load_spec(path: str | Path, backend: bool = True) -> ResolvedSpec:
    """The study spec at ``path``, validated, with defaults filled and paths resolved.

    ``backend=False`` skips the backend's own checks (its settings, programs, simulator on
    this machine): enough for tools that only need the parameters and responses, such as
    ml/.
    """
    path = Path(path)
    where = str(path)
    raw = _read_yaml(path)  # the YAML's mapping, until it becomes a ResolvedSpec below
    validate(raw, SPEC, where)

    for i, p in enumerate(raw["parameters"]):
        _type_parameter(p, f"{where}: parameters[{i}]")
    names = [p["name"] for p in raw["parameters"]]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise SpecError(f"{where}: parameters[{i}].name: duplicate parameter {name!r}")

    execution = raw["execution"]
    if (execution["interface"] == "fork" and execution["batch_size"] > 1
            and raw["failure"]["capture"] != "recover_nan"):
        raise SpecError(f"{where}: failure.capture: with execution.interface fork and "
                        "execution.batch_size > 1 only 'recover_nan' is allowed (Dakota aborts "
                        "a batch study on a failure it is asked to retry or abort on); "
                        "interface python handles all three")
    raw["spec_path"] = str(path.resolve())
    try:
        backend_cls = backend_class(raw["backend"]["name"])
    except SpecError as err:
        raise SpecError(f"{where}: backend.name: {err}") from None
    _responses(raw, backend_cls, where)
    family = family_class(backend_cls.family)
    if backend:
        validate(raw["backend"]["settings"], family.settings_schema(backend_cls), where,
                 ("backend", "settings"))
    spec = ResolvedSpec.from_json(raw)
    if not backend:
        return spec
    settings = thawed(spec.settings)  # completed by the family, then the backend
    spec_dir = path.resolve().parent
    family.resolve(spec, settings, where, spec_dir)
    backend_cls.complete_settings(settings, where, spec_dir)
    spec = spec.evolve(settings=settings)  # frozen again by the constructor
    consumed = family.consumed_parameters(spec)
    for i, name in enumerate(names):
        if name not in consumed:
            raise SpecError(f"{where}: parameters[{i}].name: backend {backend_cls.name!r} does "
                            f"not consume a parameter {name!r}; allowed: "
                            f"{', '.join(sorted(consumed))}")
    return spec


def check_samples(spec: ResolvedSpec, where: str) -> None:
    """Sampling more points than the space has only repeats points (Dakota answers a
    repeat from its cache: the study would show points it never evaluates)."""
    sampling = spec.sampling
    if sampling.method == "grid":
        return
    asked, size = spec.total_evaluations, spec.space_size
    if asked > size:
        field = "samples" if sampling.samples > size else "refinement_samples"
        raise SpecError(f"{where}: sampling.{field}: {asked:,} samples in all, more than the "
                        f"{size:,} distinct points of the space; ask for at most {size:,}, "
                        "or use method: grid to evaluate every point once")
