"""transformers' own implementations of the benchmark families, sized from
our IR so that parameter counts agree within 1% (checked by `matched`)."""
import math

import torch

TOLERANCE = 0.01


def _common(ir):
    m = ir["model"]
    return dict(vocab_size=m["vocab_size"], hidden_size=m["d_model"], max_position_embeddings=m["max_seq_len"],
                tie_word_embeddings=ir["embedding"]["tie_word_embeddings"])


def _attention(ir):
    m = ir["model"]
    return dict(num_attention_heads=m["n_heads"], num_key_value_heads=m["n_kv_heads"],
                intermediate_size=int(m["mlp_ratio"] * m["d_model"]), rms_norm_eps=1e-5,
                num_hidden_layers=len(ir["layers"]))


def llama(ir, ours):
    from transformers import LlamaConfig, LlamaForCausalLM
    return LlamaForCausalLM, LlamaConfig(**_common(ir), **_attention(ir))


def mistral(ir, ours):
    from transformers import MistralConfig, MistralForCausalLM
    window = ir["layers"][0]["mixer"]["params"]["window"]
    return MistralForCausalLM, MistralConfig(**_common(ir), **_attention(ir), sliding_window=window)


def mixtral(ir, ours):
    from transformers import MixtralConfig, MixtralForCausalLM
    moe = ir["layers"][0]["ffn"]["params"]
    return MixtralForCausalLM, MixtralConfig(**_common(ir), **_attention(ir), num_local_experts=moe["experts"],
                                             num_experts_per_tok=moe["top_k"])


def _mamba2_config(ir, layers):
    from transformers import Mamba2Config
    p = ir["layers"][0]["mixer"]["params"]
    d = ir["model"]["d_model"]
    return Mamba2Config(**_common(ir), num_hidden_layers=layers, state_size=p["d_state"], expand=p["expand"],
                        head_dim=p["head_dim"], num_heads=p["expand"] * d // p["head_dim"], n_groups=p["n_groups"],
                        conv_kernel=p["d_conv"], chunk_size=p["chunk_size"], use_conv_bias=True, use_bias=False,
                        layer_norm_epsilon=1e-5)


def mamba2(ir, ours):
    """Our layers also carry an FFN, HF's do not: HF gets the layer count that matches the total best."""
    from transformers import Mamba2ForCausalLM
    layers = min(range(1, 200), key=lambda n: abs(count(Mamba2ForCausalLM, _mamba2_config(ir, n)) - ours))
    return Mamba2ForCausalLM, _mamba2_config(ir, layers)


def jamba(ir, ours):
    from transformers import JambaConfig, JambaForCausalLM
    kinds = [layer["mixer"]["type"] for layer in ir["layers"]]
    experts = [layer["ffn"]["type"] == "moe" for layer in ir["layers"]]
    attn = kinds.index("attention")
    first_moe = experts.index(True)
    moe = ir["layers"][first_moe]["ffn"]["params"]
    mixer = ir["layers"][0]["mixer"]["params"]
    d = ir["model"]["d_model"]
    return JambaForCausalLM, JambaConfig(
        **_common(ir), **_attention(ir), attn_layer_period=len(kinds), attn_layer_offset=attn,
        expert_layer_period=2, expert_layer_offset=first_moe, num_experts=moe["experts"],
        num_experts_per_tok=moe["top_k"], mamba_d_state=mixer["d_state"], mamba_d_conv=mixer["d_conv"],
        mamba_expand=mixer["expand"], mamba_dt_rank=math.ceil(d / 16))


FAMILIES = {"llama": llama, "mistral": mistral, "mixtral": mixtral, "mamba2": mamba2, "jamba": jamba}


def count(model_class, config):
    with torch.device("meta"):
        model = model_class(config)
    return sum(p.numel() for p in model.parameters())


def build(family, ir, ours):
    """(model class, config, parameter count) for our IR with `ours` parameters; raises when the sizes are not
    matched within 1%."""
    model_class, config = FAMILIES[family](ir, ours)
    n = count(model_class, config)
    if abs(n - ours) > TOLERANCE * ours:
        raise ValueError(f"{family}: transformers model has {n:,} parameters, ours {ours:,}: not within 1%")
    return model_class, config, n
