# EulerStackConfig: the HuggingFace config of an eulerstack model.
#
# The model is rebuilt from `eulerstack_ir`, the full normalized IR that
# `eulerstack compile --print-config` prints. The standard keys HF tooling reads
# (vocab_size, hidden_size, num_hidden_layers, ...) are filled from the IR when
# they are not given, so `EulerStackConfig(eulerstack_ir=ir)` is a complete
# config. Shipped with every exported model (trust_remote_code) and with the
# `eulerstack` Python package; imports only transformers.

from transformers import PreTrainedConfig


def _init_std(ir):
    """`training_hints.init` as a float: only `normal_<std>` is supported (as in the C++ runtime)."""
    scheme = str(ir.get("training_hints", {}).get("init", "normal_0.02"))
    if scheme.startswith("normal_"):
        try:
            std = float(scheme[len("normal_"):])
        except ValueError:
            std = 0.0
        if std > 0.0:
            return std
    raise ValueError(f"training_hints.init: unsupported scheme '{scheme}'; supported: normal_<std>, e.g. normal_0.02")


class EulerStackConfig(PreTrainedConfig):
    r"""
    Configuration of an eulerstack model.

    Args:
        eulerstack_ir (`dict`):
            The normalized IR (`eulerstack compile --print-config`); the model is built from it alone.
        vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
        num_key_value_heads, head_dim, max_position_embeddings, tie_word_embeddings, initializer_range:
            The standard keys HF tooling reads. Each defaults to the IR's value; `n_layers` is an alias of
            `num_hidden_layers`.
        router_aux_loss_coef (`float`):
            Weight of the FFN blocks' auxiliary losses (default: the IR's `training_hints.router_aux_loss_coef`).
    """

    model_type = "eulerstack"
    keys_to_ignore_at_inference = ["past_key_values"]
    attribute_map = {"n_layers": "num_hidden_layers"}

    eulerstack_ir: dict | None = None
    vocab_size: int | None = None
    hidden_size: int | None = None
    intermediate_size: int | None = None
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    max_position_embeddings: int | None = None
    initializer_range: float | None = None
    tie_word_embeddings: bool | None = None
    router_aux_loss_coef: float | None = None
    use_cache: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | list[int] | None = None

    def __post_init__(self, **kwargs):
        ir = self.eulerstack_ir
        if ir is not None:
            if not isinstance(ir, dict) or not all(key in ir for key in ("model", "layers", "embedding", "head")):
                raise ValueError("eulerstack_ir must be the IR that `eulerstack compile --print-config` prints "
                                 "(a dict with model, embedding, layers and head)")
            model = ir["model"]
            d = int(model["d_model"])
            defaults = {
                "vocab_size": int(model["vocab_size"]),
                "hidden_size": d,
                "intermediate_size": int(model["mlp_ratio"]) * d,
                "num_hidden_layers": len(ir["layers"]),
                "num_attention_heads": int(model["n_heads"]),
                "num_key_value_heads": int(model.get("n_kv_heads") or model["n_heads"]),
                "head_dim": d // int(model["n_heads"]),
                "max_position_embeddings": int(model["max_seq_len"]),
                "tie_word_embeddings": bool(ir["head"].get("tied", False)),
                "initializer_range": _init_std(ir),
                "router_aux_loss_coef": float(ir.get("training_hints", {}).get("router_aux_loss_coef", 0.0)),
            }
            for key, value in defaults.items():
                if getattr(self, key) is None:
                    setattr(self, key, value)
            # n_layers in config.json is the alias of num_hidden_layers: it must agree with the IR.
            n_layers = kwargs.pop("n_layers", None)
            if n_layers is not None and int(n_layers) != self.num_hidden_layers:
                raise ValueError(f"n_layers ({n_layers}) differs from num_hidden_layers ({self.num_hidden_layers})")
            if "dtype" not in kwargs and "torch_dtype" not in kwargs and self.dtype is None:
                self.dtype = model.get("dtype")
        if self.tie_word_embeddings is None:
            self.tie_word_embeddings = False
        if self.router_aux_loss_coef is None:
            self.router_aux_loss_coef = 0.0
        super().__post_init__(**kwargs)

    def to_dict(self):
        """The config as saved: `eulerstack_ir` follows what HF tooling changed on the config (the vocabulary after
        resize_token_embeddings, the dtype after a cast), so the IR stays the one source of the architecture."""
        output = super().to_dict()
        ir = output.get("eulerstack_ir")
        if isinstance(ir, dict) and isinstance(ir.get("model"), dict):
            ir = dict(ir, model=dict(ir["model"]))
            if output.get("vocab_size") is not None:
                ir["model"]["vocab_size"] = int(output["vocab_size"])
            dtype = output.get("dtype")
            if isinstance(dtype, str) and dtype in ("float32", "bfloat16", "float16"):
                ir["model"]["dtype"] = dtype
            output["eulerstack_ir"] = ir
        return output

    @property
    def init_std(self):
        """The initialisation σ of `training_hints.init` (`normal_<std>`)."""
        if self.initializer_range is not None:
            return float(self.initializer_range)
        return _init_std(self.eulerstack_ir or {})


__all__ = ["EulerStackConfig"]
