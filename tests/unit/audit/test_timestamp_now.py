"""`timestamp_now` (every decision record's stamp) spells the time exactly as
`format_timestamp` does, though it makes the text up to the second only once a second."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.audit import log
from gateway.audit.log import format_timestamp, timestamp_ms, timestamp_now


@pytest.mark.parametrize(
    "moments",
    [
        [1_765_152_000.0, 1_765_152_000.5, 1_765_152_000.999999],  # one second
        [1_765_151_999.999998, 1_765_152_000.000001, 1_765_152_001.25],  # across seconds
        [4_102_444_799.9, 4_102_444_800.1],  # a new year (2100)
    ],
)
def test_it_spells_each_moment_as_format_timestamp_does(
    monkeypatch: pytest.MonkeyPatch, moments: list[float]
) -> None:
    for moment in moments:
        monkeypatch.setattr(log.time, "time", lambda moment=moment: moment)
        expected = format_timestamp(datetime.fromtimestamp(moment, UTC))
        assert timestamp_now() == expected
        assert len(expected) == 27 and timestamp_ms(expected) == int(moment * 1000)


def test_it_is_now() -> None:
    before = format_timestamp(datetime.now(UTC))
    stamped = timestamp_now()
    assert before <= stamped <= format_timestamp(datetime.now(UTC))
