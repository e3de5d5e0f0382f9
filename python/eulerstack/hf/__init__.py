"""The HuggingFace classes of eulerstack models.

    from eulerstack.hf import register_eulerstack_auto_classes
    register_eulerstack_auto_classes()
    model = AutoModelForCausalLM.from_pretrained(export_dir, dtype="bfloat16")

configuration_eulerstack.py, modeling_eulerstack.py, the plugin twins and eulerstack_blocks.py are copied here by
the package build (see python/pyproject.toml): the same files every exported model directory carries.
"""

from .auto_register import register_eulerstack_auto_classes
from .configuration_eulerstack import EulerStackConfig
from .modeling_eulerstack import (
    ModuleContext,
    ModuleRegistrar,
    EulerStackCache,
    EulerStackForCausalLM,
    EulerStackModel,
    register_plugin,
)

__all__ = [
    "ModuleContext",
    "ModuleRegistrar",
    "EulerStackCache",
    "EulerStackConfig",
    "EulerStackForCausalLM",
    "EulerStackModel",
    "register_eulerstack_auto_classes",
    "register_plugin",
]
