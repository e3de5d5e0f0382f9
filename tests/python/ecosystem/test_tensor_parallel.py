"""transformers' tensor-parallel plan on CPU: 2 ranks over gloo with tp_plan "auto" give the 1-rank logits, on
every mini preset (user/tensor_parallel.py). transformers runs it on CPU (DISTRIBUTED_BACKEND_MAP maps "cpu" to
gloo, transformers/distributed/utils.py): the control, a stock Llama, shows it."""
import pytest

from ecosystem.conftest import CONTROL, assert_journey, with_control
from ecosystem.launchers import launch, outcome_of
from ecosystem.presets import MINI_PRESETS


@pytest.fixture(scope="module")
def launched(user_python, exports, control, ecosystem_home):
    return launch(user_python, "torchrun", "tensor_parallel.py", with_control(exports, control),
                  ecosystem_home / "tensor-parallel")


@pytest.mark.parametrize("preset", [CONTROL, *MINI_PRESETS])
def test_tensor_parallel_plan(launched, preset):
    assert_journey(outcome_of(launched, preset))
