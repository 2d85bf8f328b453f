from __future__ import annotations

import pytest

from monitor.shard import Shard


def test_shards_split_targets_with_no_gap_and_no_overlap() -> None:
    names = [f"target-{i}" for i in range(3000)]
    shards = [Shard(i, 3) for i in range(3)]
    owned = [{n for n in names if s.owns(n)} for s in shards]
    assert set().union(*owned) == set(names)
    assert sum(len(o) for o in owned) == len(names)
    assert all(800 < len(o) < 1200 for o in owned)  # roughly even
    assert owned[0] == {n for n in names if Shard(0, 3).owns(n)}  # stable


@pytest.mark.parametrize("text", ["3/3", "1", "a/b", "-1/2", "0/0", "1/2/3"])
def test_bad_shard_specs_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        Shard.parse(text)


def test_parse_round_trips() -> None:
    assert str(Shard.parse("2/5")) == "2/5"
