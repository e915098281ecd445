from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from services.kernel.protobuf import from_timestamp, to_timestamp

AWARE = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=9))]),
)


def protobufs_own(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


@given(AWARE)
def test_times_convert_as_protobufs_own_conversions_do(value: datetime) -> None:
    ts = to_timestamp(value)
    assert ts == protobufs_own(value)
    assert from_timestamp(ts) == ts.ToDatetime(tzinfo=UTC) == value
    assert from_timestamp(ts).tzinfo is UTC


def test_a_naive_time_is_read_as_local_time() -> None:
    naive = datetime(2026, 3, 1, 12, 30, 5, 123456)
    assert to_timestamp(naive) == protobufs_own(naive)


@pytest.mark.parametrize(
    "ts",
    [
        Timestamp(seconds=253402300800),  # 10000-01-01
        Timestamp(seconds=-62135596801),  # before 0001-01-01
        Timestamp(seconds=0, nanos=-1),
        Timestamp(seconds=0, nanos=1_000_000_000),
    ],
)
def test_a_timestamp_out_of_range_is_a_value_error(ts: Timestamp) -> None:
    with pytest.raises(ValueError):
        from_timestamp(ts)
