"""One torchrun launch (2 ranks, gloo): DDP and FSDP2 on every mini preset, tiny per-rank batches; parameters and
buffers identical across ranks afterwards (user/data_parallel.py)."""
import pytest

from ecosystem.conftest import CONTROL, assert_journey, with_control
from ecosystem.launchers import launch, outcome_of
from ecosystem.presets import MINI_PRESETS


@pytest.fixture(scope="module")
def launched(user_python, exports, control, ecosystem_home):
    return launch(user_python, "torchrun", "data_parallel.py", with_control(exports, control),
                  ecosystem_home / "data-parallel")


@pytest.mark.parametrize("engine", ["ddp", "fsdp2"])
@pytest.mark.parametrize("preset", [CONTROL, *MINI_PRESETS])
def test_data_parallel(launched, preset, engine):
    assert_journey(outcome_of(launched, preset, engine))
