"""Whether a run directory's evaluations still answer a changed spec: the fields a study may
change between runs in one directory, and the first field that differs otherwise."""
from __future__ import annotations

import json

# Fields a study may change between runs in one directory: where the spec lives and how
# evaluations are run; everything else decides which points are evaluated and how.
HARMLESS = {("spec_path",), ("execution", "timeout_s"), ("execution", "concurrency"),
            ("execution", "batch_size"), ("execution", "slurm")}


def spec_difference(old, new, path: tuple = ()) -> str | None:
    """The first field (``sampling.seed: 11 -> 12``) where two resolved specs differ in a
    way that changes a study's results; None when they agree on all of those."""
    if path in HARMLESS:
        return None
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            found = spec_difference(old.get(key), new.get(key), path + (key,))
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and \
            any(isinstance(v, dict) for v in old):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            found = spec_difference(a, b, path + (i,))
            if found:
                return found
        return None
    if old == new:
        return None
    name = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    name = name or "(top level)"
    show = [json.dumps(v)[:60] if v is not None else "(absent)" for v in (old, new)]
    return f"{name}: {show[0]} -> {show[1]}"
