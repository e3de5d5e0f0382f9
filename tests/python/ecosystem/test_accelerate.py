"""`accelerate launch` with a 2-process CPU config file: prepare + a few steps on every mini preset
(user/accelerate_train.py)."""
import pytest

from ecosystem.conftest import CONTROL, assert_journey, with_control
from ecosystem.launchers import launch, outcome_of
from ecosystem.presets import MINI_PRESETS


@pytest.fixture(scope="module")
def launched(user_python, exports, control, ecosystem_home):
    return launch(user_python, "accelerate", "accelerate_train.py", with_control(exports, control),
                  ecosystem_home / "accelerate")


def test_two_cpu_processes(launched):
    process = outcome_of(launched, CONTROL)
    assert (process["num_processes"], process["distributed_type"]) == (2, "DistributedType.MULTI_CPU")


@pytest.mark.parametrize("preset", [CONTROL, *MINI_PRESETS])
def test_accelerate_trains(launched, preset):
    assert_journey(outcome_of(launched, preset))
