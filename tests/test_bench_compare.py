"""The benchmarks' rule for "A beats B" (bench/compare.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from compare import spread, verdict  # noqa: E402


def test_better_only_when_the_seed_ranges_do_not_overlap():
    assert verdict([1.0, 1.1, 1.2], [1.5, 1.6, 1.7], "A", "B") == "A better by 0.50 points"
    assert verdict([2.0, 2.1], [1.0, 1.9], "A", "B") == "B better by 0.60 points"
    assert verdict([1.0, 1.6], [1.5, 1.7], "A", "B").startswith("no difference (gap 0.30")


def test_one_seed_never_ranks():
    assert verdict([1.0], [5.0], "A", "B") == "one seed: not a ranking"


def test_spread_cell():
    assert spread([1.0, 2.0, 3.0]) == "2.00 (1.00..3.00)"
    assert spread([1.234]) == "1.23"
