"""The journeys themselves: each passes on a stock transformers Llama, so a journey that fails on an export
points at the export, not at the test."""
import pytest

from ecosystem.conftest import CONTROL, CONTROL_JOURNEYS, assert_journey


@pytest.mark.parametrize("journey", CONTROL_JOURNEYS)
def test_stock_llama_takes_the_journey(journey_runs, journey):
    outcome, _ = journey_runs.result(CONTROL, journey)
    assert_journey(outcome)
