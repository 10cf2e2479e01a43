"""Which design points to simulate next.

``random``: uniformly among the points not simulated yet (sampling without replacement).
``active``: among a seeded random pool of unsimulated candidates, the points where an
ensemble disagrees most: a random forest on ln(objective) refitted on everything simulated
so far, disagreement = standard deviation of its trees' predictions (ln units).
"""
from __future__ import annotations

import numpy as np

from . import space
from .errors import DataError

TYPE_CHECKING = False  # annotations only
if TYPE_CHECKING:
    from driver.resolved import ResolvedSpec

STRATEGIES = ("random", "active")


def unsimulated(spec: ResolvedSpec, exclude: set[int], count: int,
                rng: np.random.Generator) -> np.ndarray:
    """Up to ``count`` random indices of points not in ``exclude``."""
    total = space.size(spec)
    free = total - len(exclude)
    count = min(count, free)
    if count <= 0:
        return np.array([], dtype=np.int64)
    if free < 4 * count or total <= 2_000_000:
        # Small spaces: an exact draw from the complement.
        pool = np.setdiff1d(np.arange(total, dtype=np.int64),
                            np.fromiter(exclude, np.int64, len(exclude)), assume_unique=True)
        return rng.choice(pool, size=count, replace=False)
    chosen: list[int] = []
    seen = set(exclude)
    while len(chosen) < count:  # large spaces: rejection (few collisions by construction)
        for index in rng.integers(0, total, size=2 * (count - len(chosen))).tolist():
            if index not in seen:
                seen.add(index)
                chosen.append(index)
                if len(chosen) == count:
                    break
    return np.array(chosen, dtype=np.int64)


def forest_spread(X_train: np.ndarray, y: np.ndarray, X: np.ndarray, seed: int) -> np.ndarray:
    """Standard deviation (ln of the objective) of a random forest's trees at each row of ``X``."""
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=100, random_state=seed, n_jobs=2)
    forest.fit(X_train, np.log(y))
    per_tree = np.stack([tree.predict(X) for tree in forest.estimators_])
    return per_tree.std(axis=0)


def choose(strategy: str, spec: ResolvedSpec, exclude: set[int], count: int, seed_sequence,
           features=None, candidates: int = 20_000) -> np.ndarray:
    """Indices of the next ``count`` points to simulate.

    ``features``: for ``active``, a callable (indices) -> feature matrix, and the simulated
    training data as ``features.X`` / ``features.y``.
    """
    if strategy not in STRATEGIES:
        raise DataError(f"--strategy {strategy}: expected one of {', '.join(STRATEGIES)}")
    rng = np.random.default_rng(seed_sequence)
    if strategy == "random":
        return unsimulated(spec, exclude, count, rng)
    pool = unsimulated(spec, exclude, max(candidates, count), rng)
    if len(pool) <= count:
        return pool
    spread = forest_spread(features.X, features.y, features(pool),
                           int(rng.integers(2**31)))
    # Highest disagreement first; ties (common among tree predictions) broken at random.
    order = np.lexsort((rng.random(len(pool)), -spread))
    return pool[order[:count]]
