"""Random schedules from the prime factors of each loop bound (Hong, section 4.2).

``generate(accel, layer, kind, schedule_id, seed)`` is deterministic: the same arguments
give the same schedule on every machine (Python's ``random`` seeded with a string), so a
Dakota study samples schedule ids and the driver derives the schedule.

- ``any``: each prime factor of each bound goes to a uniformly random level; every
  temporal level's loop order is a random permutation (valid or not, as drawn).
- ``valid``: the prime factors, in random order, each go to the first level of a random
  level order where the schedule still fits (DRAM always fits), so the result is valid.
- ``invalid``: a valid schedule, then one constraint chosen at random (a buffer's capacity
  or a fan-out) broken by moving factors into that level from the nearest outer level that
  has some, and kept only if that is the only constraint broken; its label is that one
  constraint (``capacity:<level>`` or ``spatial:<level>``).
"""
from __future__ import annotations

import random

from .arch import STORAGE, Accelerator
from .layers import DIMS, Layer
from .schedule import BUFFERS, LEVELS, RELEVANT, SPATIAL, TEMPORAL, Schedule, violations

KINDS = ("valid", "invalid", "any")
_ATTEMPTS = 64


def prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while n > 1 and p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def _primes(layer: Layer) -> list[tuple[int, int]]:
    """(dimension index, prime) for every prime factor of every bound."""
    return [(d, p) for d, bound in enumerate(layer.bounds()) for p in prime_factors(bound)]


def _orders(rng: random.Random) -> tuple[str, ...]:
    return tuple("".join(rng.sample(DIMS, len(DIMS))) for _ in TEMPORAL)


def _freeze(rows: list[list[int]], orders) -> Schedule:
    return Schedule(tuple(tuple(r) for r in rows), orders)


def _random(layer: Layer, rng: random.Random) -> Schedule:
    rows = [[1] * len(DIMS) for _ in LEVELS]
    for d, p in _primes(layer):
        rows[rng.randrange(len(LEVELS))][d] *= p
    return _freeze(rows, _orders(rng))


def _fits(limits: list, stride: int, rows: list[list[int]]) -> bool:
    """Whether ``rows`` (factors per level) break no capacity or fan-out: the hot loop of
    :func:`_valid`, written out for speed (:func:`.schedule.violations` is the reference,
    and the tests hold the two equal)."""
    r = s = p = q = c = k = n = 1
    for (kind, limit), (fr, fs, fp, fq, fc, fk, fn) in zip(limits, rows, strict=True):
        r, s, p, q, c, k, n = r * fr, s * fs, p * fp, q * fq, c * fc, k * fk, n * fn
        if kind == "spatial":
            if fr * fs * fp * fq * fc * fk * fn > limit:
                return False
        elif kind:
            held = 0
            if "W" in kind:
                held += r * s * c * k
            if "I" in kind:
                held += n * c * ((p - 1) * stride + r) * ((q - 1) * stride + s)
            if "O" in kind:
                held += p * q * k * n
            if held > limit:
                return False
    return True


def _limits(accel: Accelerator) -> list:
    """Per level: ("spatial", fan-out), (kept data types, capacity) or ("", None)."""
    out: list[tuple[str, int | None]] = []
    for level in LEVELS:
        if level in SPATIAL:
            out.append(("spatial", accel.macs_per_pe if level == "macs" else accel.pes))
        elif level in BUFFERS:
            out.append(("".join(STORAGE[level]), accel.capacity_words(level)))
        else:
            out.append(("", None))
    return out


def _valid(accel: Accelerator, layer: Layer, rng: random.Random) -> Schedule:
    limits = _limits(accel)
    orders = _orders(rng)
    dram = LEVELS.index("dram")
    rows = [[1] * len(DIMS) for _ in LEVELS]
    rows[dram] = list(layer.bounds())
    primes = _primes(layer)
    rng.shuffle(primes)
    for d, p in primes:
        for target in rng.sample(range(len(LEVELS)), len(LEVELS)):
            if target == dram:
                break
            rows[dram][d] //= p
            rows[target][d] *= p
            if _fits(limits, layer.stride, rows):
                break
            rows[target][d] //= p
            rows[dram][d] *= p
    return _freeze(rows, orders)


def _break(accel: Accelerator, layer: Layer, base: Schedule, target: str,
           rng: random.Random) -> Schedule | None:
    """``base`` with factors moved into ``target`` until it (and only it) is broken."""
    rows = [list(r) for r in base.factors]
    t = LEVELS.index(target)
    dims = range(len(DIMS)) if target in SPATIAL else \
        [DIMS.index(c) for kind in STORAGE[target] for c in RELEVANT[kind]]
    label = ("spatial:" if target in SPATIAL else "capacity:") + target
    while True:
        sources = [(lv, d) for lv in range(t + 1, len(LEVELS)) for d in dims if rows[lv][d] > 1]
        if not sources:
            return None
        nearest = min(lv for lv, _ in sources)
        lv, d = rng.choice([s for s in sources if s[0] == nearest])
        p = rng.choice(prime_factors(rows[lv][d]))
        rows[lv][d] //= p
        rows[t][d] *= p
        broken = violations(accel, layer, _freeze(rows, base.permutations))
        if broken:
            return _freeze(rows, base.permutations) if broken == [label] else None


def generate(accel: Accelerator, layer: Layer, kind: str, schedule_id: int,
             seed: int = 0) -> tuple[Schedule, list[str]]:
    """The schedule ``schedule_id`` of ``kind`` and the constraints it breaks (empty when
    valid). Raises ValueError for a kind outside :data:`KINDS` or an ``invalid`` schedule
    that cannot be made (no constraint of this design can be broken alone)."""
    if kind not in KINDS:
        raise ValueError(f"schedule kind {kind!r}; allowed: {', '.join(KINDS)}")
    a = accel
    rng = random.Random(f"{seed}/{layer.name}/{kind}/{schedule_id}/{a.pes}/{a.macs}/"
                        f"{a.accum_buffer_kib}/{a.weight_buffer_kib}/{a.input_buffer_kib}/"
                        f"{a.global_buffer_kib}")
    if kind == "any":
        schedule = _random(layer, rng)
        return schedule, violations(accel, layer, schedule)
    if kind == "valid":
        return _valid(accel, layer, rng), []
    targets = list(SPATIAL + BUFFERS)
    for _ in range(_ATTEMPTS):
        target = rng.choice(targets)
        broken = _break(accel, layer, _valid(accel, layer, rng), target, rng)
        if broken is not None:
            return broken, violations(accel, layer, broken)
    raise ValueError(f"no schedule of layer {layer.name} breaks a single constraint of {accel}")
