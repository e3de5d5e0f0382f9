"""register_eulerstack_auto_classes(): makes AutoConfig / AutoModel / AutoModelForCausalLM know `eulerstack`."""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from .configuration_eulerstack import EulerStackConfig
from .modeling_eulerstack import EulerStackForCausalLM, EulerStackModel


def register_eulerstack_auto_classes(exist_ok: bool = True) -> None:
    """Registers EulerStackConfig, EulerStackModel and EulerStackForCausalLM with the Auto classes (for this process).

    Afterwards `model_type: eulerstack` resolves to these classes, also with `trust_remote_code=True` (registered
    local code wins over a directory's code), and `save_pretrained` writes the modeling code and `auto_map` next to
    the weights, so that the saved directory loads anywhere with `trust_remote_code=True`.
    """
    AutoConfig.register(EulerStackConfig.model_type, EulerStackConfig, exist_ok=exist_ok)
    AutoModel.register(EulerStackConfig, EulerStackModel, exist_ok=exist_ok)
    AutoModelForCausalLM.register(EulerStackConfig, EulerStackForCausalLM, exist_ok=exist_ok)
    EulerStackConfig.register_for_auto_class("AutoConfig")
    EulerStackModel.register_for_auto_class("AutoModel")
    EulerStackForCausalLM.register_for_auto_class("AutoModelForCausalLM")
