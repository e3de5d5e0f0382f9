"""Each single-process journey on each mini preset, from the preset's journey process (user/single_process.py)."""
import pytest

from ecosystem.conftest import assert_journey, journeys_for
from ecosystem.presets import MINI_PRESETS

CASES = [(p, j) for p in MINI_PRESETS for j in journeys_for(p) if j != "resize_for_cli"]


@pytest.mark.parametrize("preset,journey", CASES)
def test_journey(journey_runs, preset, journey):
    outcome, _ = journey_runs.result(preset, journey)
    assert_journey(outcome)
