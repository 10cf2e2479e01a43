"""Test-only fault injection: make chosen evaluations of a real backend crash, hang or
produce garbage, to exercise failure handling end to end.

Armed by the environment variable ``CYCLECAST_FAULTS``, e.g.
``crash=0.1,hang=0.05,garbage=0.05,seed=7``: each evaluation number maps, through a hash
seeded by ``seed``, to a uniform number u in [0, 1); u < crash crashes it, the next ``hang``
share hangs it, the next ``garbage`` share garbles its output. The choice depends only on the
evaluation number and the seed, so a test can compute which evaluations must fail.

The faults act on the real simulator process (see :mod:`driver.process`): a crash sends it
SIGSEGV, a hang stops it with SIGSTOP until the evaluation's timeout kills its process
group, garbage overwrites every file it wrote in its work directory after it exits.
"""
from __future__ import annotations

import os
import threading

ENV = "CYCLECAST_FAULTS"
KINDS = ("crash", "hang", "garbage")
_current = threading.local()


def parse(text: str) -> dict[str, float]:
    """``"crash=0.1,seed=3"`` -> {"crash": 0.1, "hang": 0, "garbage": 0, "seed": 3}."""
    config = {kind: 0.0 for kind in KINDS} | {"seed": 0.0}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        if key not in config:
            raise ValueError(f"{ENV}: unknown key {key!r}; allowed: {', '.join(config)}")
        config[key] = float(value)
    return config


def _uniform(seed: int, number: int) -> float:
    # splitmix64 finaliser: a well-mixed hash of (seed, evaluation number).
    x = (seed * 0x9E3779B97F4A7C15 + number) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return ((x ^ (x >> 31)) >> 11) / float(1 << 53)


def fault_for(number: int, config: dict[str, float]) -> str | None:
    """The fault injected into evaluation ``number`` under ``config``, or None."""
    u, edge = _uniform(int(config["seed"]), number), 0.0
    for kind in KINDS:
        edge += config[kind]
        if u < edge:
            return kind
    return None


def from_environment() -> dict[str, float] | None:
    text = os.environ.get(ENV)
    return parse(text) if text else None


def arm(kind: str | None) -> None:
    """Set the fault for simulator processes started by this thread."""
    _current.kind = kind


def armed() -> str | None:
    return getattr(_current, "kind", None)
