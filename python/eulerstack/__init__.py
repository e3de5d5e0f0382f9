"""eulerstack: the Python side of the eulerstack toolchain.

`eulerstack.hf` holds the HuggingFace classes (EulerStackConfig, EulerStackModel, EulerStackForCausalLM) and
`register_eulerstack_auto_classes()`. The compiler itself is the `eulerstack` executable.
"""

__version__ = "0.1.0"
