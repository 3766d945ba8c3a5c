"""harness.data_provider decodes every input exactly as atheris's FuzzedDataProvider does."""

from __future__ import annotations

import atheris
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.engine.data_provider import DataProvider

RANGES = st.one_of(
    st.tuples(st.integers(-300, 300), st.integers(0, 300)),       # one-byte spans, and empty ones
    st.tuples(st.integers(-2**40, 2**40), st.integers(0, 2**64 - 1)),  # multi-byte spans up to 64 bits
)
CALLS = st.lists(st.one_of(
    st.tuples(st.just("int"), RANGES),
    st.tuples(st.just("bool"), st.none()),
    st.tuples(st.just("bytes"), st.integers(0, 40)),
), max_size=40)


@given(data=st.binary(max_size=120), calls=CALLS)
def test_same_values_and_same_bytes_consumed_as_atheris(data: bytes, calls: list) -> None:
    ours, theirs = DataProvider(data), atheris.FuzzedDataProvider(data)
    for kind, argument in calls:
        if kind == "int":
            low, span = argument
            got, want = ours.ConsumeIntInRange(low, low + span), theirs.ConsumeIntInRange(low, low + span)
        elif kind == "bool":
            got, want = ours.ConsumeBool(), theirs.ConsumeBool()
        else:
            got, want = ours.ConsumeBytes(argument), theirs.ConsumeBytes(argument)
        assert (got, ours.remaining_bytes()) == (want, theirs.remaining_bytes()), (kind, argument)


def test_exhausted_input_gives_the_minimum_false_and_nothing() -> None:
    provider = DataProvider(b"\x07")
    assert provider.ConsumeIntInRange(10, 20) == 10 + 7 % 11
    assert (provider.ConsumeIntInRange(10, 20), provider.ConsumeBool(), provider.ConsumeBytes(5)) == (10, False, b"")


def test_bad_arguments_are_refused() -> None:
    provider = DataProvider(b"abc")
    with pytest.raises(ValueError, match="min 3 > max 1"):
        provider.ConsumeIntInRange(3, 1)
    with pytest.raises(ValueError, match="negative"):
        provider.ConsumeBytes(-1)
    with pytest.raises(ValueError, match="64 bits"):
        provider.ConsumeIntInRange(0, 2**64)
