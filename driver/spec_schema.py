"""JSON schema of a study spec (``dakota_inputs/*.yaml``). Defaults are filled on load.

The backend's own ``settings`` are validated against the schema the backend declares
(``Backend.settings_schema``), so adding a backend never edits this file.
"""

_NAME = {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"}
#: A categorical value: a word Dakota, shells and file names carry as is, and that never
#: reads as a number (the driver must not mistake "128" for an integer).
CATEGORY = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_.+-]*$", "maxLength": 100}
PARAMETER_TYPES = ("integer", "real", "categorical")

PARAMETER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "role"],
    # Exactly one of values (a list) and range (integers first..last by step, inclusive).
    "oneOf": [{"required": ["values"]}, {"required": ["range"]}],
    "properties": {
        "name": _NAME,
        "unit": {"type": "string", "default": ""},
        "role": {"enum": ["architecture", "workload"]},
        # Default: categorical when the values are strings, integer when they are whole
        # numbers, else real. Categorical values go to Dakota as a string design set.
        "type": {"enum": list(PARAMETER_TYPES)},
        "values": {"type": "array", "minItems": 1, "uniqueItems": True,
                   "items": {"anyOf": [{"type": "number"}, CATEGORY]}},
        "range": {"type": "object", "additionalProperties": False,
                  "required": ["first", "last"],
                  "properties": {"first": {"type": "integer"}, "last": {"type": "integer"},
                                 "step": {"type": "integer", "minimum": 1, "default": 1}}},
        "description": {"type": "string", "default": ""},
        # How surrogate models see this parameter: auto = log2 for numbers when every value
        # is positive and they span a factor of 4 or more (sizes, counts), else as is;
        # onehot for categorical values (ordinal: the index in the sorted values).
        "transform": {"enum": ["auto", "none", "log2", "onehot", "ordinal"],
                      "default": "auto"},
    },
}

#: ``#SBATCH`` settings of the batch job (``job.sh``); ntasks is ``execution.concurrency``.
SLURM = {
    "type": "object",
    "additionalProperties": False,
    "default": {},
    "properties": {
        "nodes": {"type": "integer", "minimum": 1, "default": 1},
        "cpus_per_task": {"type": "integer", "minimum": 1, "default": 1},
        "mem_per_cpu": {"type": "string", "pattern": "^[0-9]+[KMGT]?$"},
        "time": {"type": "string", "pattern": "^([0-9]+-)?[0-9]+(:[0-9]{2}){0,2}$",
                 "default": "1:00:00"},
        "partition": {"type": "string", "pattern": "^[A-Za-z0-9_.,-]+$"},
        "account": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
        "qos": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
        # Site modules loaded by the job before Dakota starts, e.g. ["dakota/6.24", "gem5"].
        "modules": {"type": "array", "default": [],
                    "items": {"type": "string", "pattern": "^[A-Za-z0-9_.+/-]+$"}},
    },
}

SPEC = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["study", "parameters", "backend"],
    "properties": {
        "study": _NAME,
        "description": {"type": "string", "default": ""},
        "parameters": {"type": "array", "minItems": 1, "items": PARAMETER},
        "backend": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": _NAME,
                "settings": {"type": "object", "default": {}},
            },
        },
        # Default: every response the backend produces, its default objective first.
        "responses": {"type": "array", "minItems": 1, "uniqueItems": True, "items": _NAME},
        # What the study minimises and models predict by default: one of the responses
        # (default: the backend's first objective).
        "objective": _NAME,
        "sampling": {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "properties": {
                # grid: every combination of the parameters' values, once each (a Dakota
                # multidim parameter study; samples and seed do not apply).
                "method": {"enum": ["lhs", "random", "grid"], "default": "lhs"},
                # Dakota holds every sample in memory (a 10^12-sample deck makes it exit silently).
                "samples": {"type": "integer", "minimum": 1, "maximum": 100_000_000,
                            "default": 64},
                "seed": {"type": "integer", "minimum": 1, "default": 1234},
                "refinement_samples": {"type": "array", "default": [],
                                       "items": {"type": "integer", "minimum": 1}},
            },
        },
        "execution": {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "properties": {
                # fork: Dakota runs the analysis driver as a process per evaluation (or
                # batch); python: Dakota runs in cyclecast's process and calls the driver
                # as a function on batches, evaluated by long-lived workers.
                "interface": {"enum": ["fork", "python"], "default": "python"},
                # Evaluations (batches in fork batch mode) at once; under Slurm, the
                # job's tasks.
                "concurrency": {"type": "integer", "minimum": 1, "default": 2},
                # Evaluations per driver call; with interface python, 1 means "automatic"
                # (the points Dakota has ready, at most PYTHON_BATCH).
                "batch_size": {"type": "integer", "minimum": 1, "default": 1},
                "timeout_s": {"type": "number", "exclusiveMinimum": 0, "default": 600},
                "slurm": SLURM,
            },
        },
        "failure": {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "properties": {
                "capture": {"enum": ["recover_nan", "retry", "abort"],
                            "default": "recover_nan"},
                "retries": {"type": "integer", "minimum": 1, "default": 2},
            },
        },
    },
}
