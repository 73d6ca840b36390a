"""Seed specs: counts, lists and ranges, bounded before anything is allocated."""

from __future__ import annotations

import pytest

from g2m.errors import ConfigError
from g2m.utils.seeds import MAX_SEED, MAX_SEEDS, parse_seeds


def test_counts_lists_and_ranges():
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds(2, start=5) == [5, 6]
    assert parse_seeds("0,3,7") == [0, 3, 7] and parse_seeds("2-4") == [2, 3, 4]
    assert parse_seeds([MAX_SEED]) == [MAX_SEED] and len(parse_seeds(MAX_SEEDS)) == MAX_SEEDS


@pytest.mark.parametrize("spec, start, message", [
    ("3000000000", 0, "asks for 3000000000 seeds; at most 10000"),
    ("0-3000000000", 0, "asks for 3000000001 seeds"),
    (MAX_SEEDS + 1, 0, f"asks for {MAX_SEEDS + 1} seeds"),
    ("1", MAX_SEED + 1, "seeds go up to 4294967295"),
    ([0, MAX_SEED + 1], 0, "seeds go up to 4294967295"),
    ("0", 0, "at least 1"), ("1,1", 0, "repeats"), ("x", 0, "not a seed spec"), ([-1], 0, "non-negative"),
])
def test_out_of_range_specs_are_refused_before_anything_is_allocated(spec, start, message):
    with pytest.raises(ConfigError, match=message):
        parse_seeds(spec, start=start)
