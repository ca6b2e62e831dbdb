"""The test-only fault switch: parsing BLOBSTORE_RELAY_FAULT and counting hits."""

from __future__ import annotations

import pytest

from blobstore.config import ConfigError
from blobstore.events.faults import AFTER_KAFKA_COMMIT, MID_BATCH, FaultSwitch


def test_unset_switch_is_never_due() -> None:
    switch = FaultSwitch.from_env({})

    assert switch.point is None
    assert [switch.due(AFTER_KAFKA_COMMIT) for _ in range(3)] == [False, False, False]


def test_point_without_count_is_due_on_first_hit() -> None:
    switch = FaultSwitch.from_env({"BLOBSTORE_RELAY_FAULT": "mid_batch"})

    assert switch.due(MID_BATCH) is True


def test_count_makes_the_nth_hit_due() -> None:
    switch = FaultSwitch.from_env({"BLOBSTORE_RELAY_FAULT": "after_kafka_commit:3"})

    hits = [switch.due(AFTER_KAFKA_COMMIT) for _ in range(4)]

    assert hits == [False, False, True, False]


def test_other_points_do_not_count() -> None:
    switch = FaultSwitch.from_env({"BLOBSTORE_RELAY_FAULT": "after_kafka_commit:2"})

    switch.due(MID_BATCH)
    switch.due(MID_BATCH)

    assert switch.due(AFTER_KAFKA_COMMIT) is False
    assert switch.due(AFTER_KAFKA_COMMIT) is True


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("explode", "the point must be one of"),
        ("mid_batch:0", "must be a number >= 1"),
        ("mid_batch:x", "must be a number >= 1"),
        ("mid_batch:-1", "must be a number >= 1"),
    ],
)
def test_invalid_value_is_rejected(raw: str, rule: str) -> None:
    with pytest.raises(ConfigError) as error:
        FaultSwitch.from_env({"BLOBSTORE_RELAY_FAULT": raw})

    assert "BLOBSTORE_RELAY_FAULT" in str(error.value)
    assert rule in str(error.value)
