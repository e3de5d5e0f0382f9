"""Property test: random valid specs compile to the IR they describe, and the IR round-trips.

Each seed builds a random valid schema-v1 spec (attention / mamba / retnet mixers, mlp / gated_mlp /
moe FFNs, norms, residuals, state flags, 1-4 templates, 1-6 schedule groups with repeats, overrides
from the overridable list, and `let` + `${...}` expressions), then checks `compile --print-config`:

- exit 0, and the same bytes when compiled twice;
- the model dims, and one IR layer per repeated schedule entry with the template's blocks, their
  parameters (explicit values over the documented defaults) and the group's overrides (only its own);
- the parameter breakdown adds up to the total, and matches an independent count from the weight
  shapes documented in the plugins;
- the IR written back as schema-v1 YAML with every default explicit compiles to the same IR.
"""
import json
import math
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from conftest import EXE, clean_env

N_SPECS = 200

# Documented defaults (plugins/*_plugin.cpp, core/torch_free/src/spec/core_schema.cpp).
MIXER_DEFAULTS = {
    "attention": {"qkv_bias": False, "attn_drop": 0.0, "window": None, "window_mode": "standard",
                  "window_dilation": None, "latent_dim": None, "attention_sinks": None},
    "mamba": {"variant": "mamba2", "d_state": 64, "d_conv": 4, "expand": 2, "head_dim": 64, "n_groups": 1,
              "chunk_size": 256},
    "retnet": {"chunkwise": True, "chunk_size": 64, "rope": True, "value_factor": 1},
}
MIXER_STATE = {"attention": (True, False), "mamba": (False, True), "retnet": (True, False)}  # kv_cache, ssm_state
FFN_DEFAULTS = {"mlp": {"activation": "gelu", "bias": False}, "gated_mlp": {"activation": "swiglu", "bias": False}}
MOE_DEFAULTS = {
    "experts": None, "top_k": None, "router": "softmax", "expert_type": "gated_mlp", "z_loss": 0.0,
    "capacity_factor": 1.0, "capacity_drop_policy": "overflow", "load_balance_coef": 0.01, "router_init_std": None,
    "router_jitter": 0.0, "bias_correction": {"enabled": False, "update_rate": 0.001, "target_imbalance": 0.0},
    "affinity": "softmax", "shared_experts": 0, "routing": {"type": "learned", "hash_salt": None},
    "balance": {"sequence_aux_coef": 0.0, "group_limit": None}, "activation": "gelu", "bias": False,
}
ROUTER_PARAMS = ["norm_topk_prob"]
ROPE_DEFAULTS = {"rope_theta": 10000.0, "rope_scaling": None, "partial_rotary_factor": 1.0}


def divisors(n, limit=None):
    return [k for k in range(1, n + 1) if n % k == 0 and (limit is None or k <= limit)]


def maybe(rng, p=0.5):
    return rng.random() < p


# ------------------------------------------------------------------ generation


class Gen:
    """One random spec: `doc` is what is written (may hold ${...}); the rest is what it means."""

    def __init__(self, seed):
        rng = self.rng = random.Random(seed)
        self.let = {}
        self.n_heads = rng.choice([1, 2, 4, 8])
        self.head_dim = rng.choice([8, 16, 32, 64])
        self.d_model = self.n_heads * self.head_dim
        self.n_kv_heads = rng.choice(divisors(self.n_heads))
        self.vocab = rng.choice([256, 1000, 32000])
        self.max_seq = rng.choice([64, 128, 512, 2048])
        self.mlp_ratio = rng.choice([1, 2, 4])
        use_let = maybe(rng)

        model = {"name": f"rand{seed}"}
        if use_let:
            self.let.update({"h": self.n_heads, "dh": self.head_dim})
            model["d_model"] = "${let.h * let.dh}"
            model["n_heads"] = "${let.h}"
            if maybe(rng):
                self.let["half_seq"] = self.max_seq // 2
                model["max_seq_len"] = "${let.half_seq * 2}"
        else:
            model["d_model"] = self.d_model
            model["n_heads"] = self.n_heads
        model.setdefault("max_seq_len", self.max_seq)
        model["vocab_size"] = self.vocab
        if self.n_kv_heads != self.n_heads or maybe(rng):
            model["n_kv_heads"] = self.n_kv_heads
        if self.mlp_ratio != 4 or maybe(rng):
            model["mlp_ratio"] = self.mlp_ratio
        self.dtype = rng.choice(["float32", "float16", "bfloat16"])
        if self.dtype != "bfloat16" or maybe(rng):
            model["dtype"] = self.dtype

        self.positional, embedding = self.gen_embedding()
        self.tie_emb = maybe(rng, 0.8)
        self.tie_head = self.tie_emb if maybe(rng, 0.8) else not self.tie_emb
        if not self.tie_emb or maybe(rng):
            embedding["tie_word_embeddings"] = self.tie_emb

        self.templates = {}
        doc_templates = {}
        for k in range(rng.randint(1, 4)):
            name = f"t{k}"
            doc_templates[name], self.templates[name] = self.gen_template()

        self.groups = []
        doc_schedule = []
        for _ in range(rng.randint(1, 6)):
            name = rng.choice(sorted(self.templates))
            repeat = rng.randint(1, 4)
            entry = {"template": name}
            if repeat != 1 or maybe(rng):
                if use_let and maybe(rng, 0.3):
                    self.let.setdefault("r", 2)
                    entry["repeat"] = f"${{let.r + {repeat - 2}}}"
                else:
                    entry["repeat"] = repeat
            override = self.gen_override(self.templates[name]) if maybe(rng, 0.4) else None
            if override:
                entry["override"] = override
            doc_schedule.append(entry)
            self.groups.append((name, repeat, override))

        self.doc = {"schema_version": 1}
        if self.let:
            self.doc["let"] = dict(self.let)
        self.doc.update({
            "model": model,
            "tokenizer_contract": {"type": "hf", "pretrained": rng.choice(["google/byt5-small", "meta-llama/Llama-2-7b-hf"])},
            "embedding": embedding,
            "layer_templates": doc_templates,
            "layer_schedule": doc_schedule,
            "head": {"type": "causal_lm", "tie_weights": self.tie_head},
        })

    def gen_embedding(self):
        rng = self.rng
        kind = rng.choice(["rope", "rope", "alibi", "none", "learned"])
        embedding = {"type": "learned", "positional": kind}
        params = {}
        if kind == "rope":
            params = dict(ROPE_DEFAULTS)
            if maybe(rng):
                params["rope_theta"] = embedding["rope_theta"] = rng.choice([10000.0, 500000.0, 1e6])
            if maybe(rng, 0.3):
                scaling = {"type": rng.choice(["linear", "dynamic", "ntk", "yarn"]), "factor": float(rng.choice([1, 2, 4, 8]))}
                params["rope_scaling"] = embedding["rope_scaling"] = scaling
            if maybe(rng, 0.3):
                fraction = rng.choice([f for f in (0.25, 0.5, 1.0) if int(self.head_dim * f) >= 2])
                params["partial_rotary_factor"] = embedding["partial_rotary_factor"] = fraction
        return {"type": kind, "params": params}, embedding

    def gen_mixer(self):
        rng = self.rng
        kind = rng.choice(["attention", "attention", "mamba", "retnet"])
        explicit = {}
        if kind == "attention":
            if maybe(rng, 0.3):
                explicit["qkv_bias"] = maybe(rng)
            if maybe(rng, 0.3):
                explicit["attn_drop"] = rng.choice([0.0, 0.1, 0.25])
            mode = rng.choice(["standard", "sliding", "dilated", "nsa"]) if maybe(rng, 0.4) else None
            if mode:
                explicit["window_mode"] = mode
            if mode in ("dilated", "nsa") or maybe(rng, 0.3):
                explicit["window"] = rng.randint(1, self.max_seq - 1)
                if mode in ("dilated", "nsa") and maybe(rng):
                    explicit["window_dilation"] = rng.randint(1, 8)
            if maybe(rng, 0.25):
                lo, hi = max(1, self.d_model // 16), min(3 * self.d_model // 4, self.d_model - 1)
                explicit["latent_dim"] = rng.randint(lo, hi)
            if maybe(rng, 0.2):
                explicit["attention_sinks"] = {"n_per_head": rng.randint(0, 4), "learnable": maybe(rng)}
        elif kind == "mamba":
            variant = rng.choice(["mamba1", "mamba2"])
            if variant == "mamba1" or maybe(rng):
                explicit["variant"] = variant
            expand = rng.randint(1, 4)
            if expand != 2 or maybe(rng):
                explicit["expand"] = expand
            for key, choices in (("d_state", [4, 16, 64, 128]), ("d_conv", [2, 4]), ("chunk_size", [64, 256])):
                if maybe(rng, 0.3):
                    explicit[key] = rng.choice(choices)
            inner = expand * self.d_model
            if variant == "mamba2":
                if inner % 64 or maybe(rng, 0.4):
                    explicit["head_dim"] = rng.choice(divisors(inner, 4096))
                heads = inner // explicit.get("head_dim", 64)
                groups = rng.choice(divisors(heads, 1024))
                if groups != 1 or maybe(rng, 0.2):
                    explicit["n_groups"] = groups
        else:
            if maybe(rng, 0.3):
                explicit["chunkwise"] = maybe(rng)
            if maybe(rng, 0.3):
                explicit["chunk_size"] = rng.choice([16, 64, 128])
            if maybe(rng, 0.3):
                explicit["rope"] = maybe(rng)
            if maybe(rng, 0.3):
                explicit["value_factor"] = rng.randint(1, 4)
        doc = {"type": kind}
        if explicit or maybe(rng, 0.2):
            doc[kind] = dict(explicit)
        return doc, {"type": kind, "params": {**MIXER_DEFAULTS[kind], **explicit}}

    def gen_ffn(self):
        rng = self.rng
        kind = rng.choice(["mlp", "gated_mlp", "moe"])
        doc = {"type": kind}
        inline = {}
        if maybe(rng, 0.4):
            inline["activation"] = rng.choice(["swiglu", "gelu", "relu"])
        if maybe(rng, 0.3):
            inline["bias"] = maybe(rng)
        doc.update(inline)
        if kind != "moe":
            return doc, {"type": kind, "params": {**FFN_DEFAULTS[kind], **inline}}
        experts = rng.randint(1, 16)
        moe = {"experts": experts, "top_k": rng.randint(1, experts)}
        router = rng.choice(["softmax", "sigmoid"]) if maybe(rng) else None
        if router:
            moe["router"] = router
        router_params = {"norm_topk_prob": True}
        if maybe(rng, 0.3):
            router_params["norm_topk_prob"] = moe["norm_topk_prob"] = maybe(rng)
        if maybe(rng, 0.3):
            moe["expert_type"] = rng.choice(["gated_mlp", "mlp"])
        if maybe(rng, 0.3):
            moe["shared_experts"] = rng.randint(0, 2)
        if maybe(rng, 0.3):
            moe["capacity_factor"] = rng.choice([0.5, 1.0, 1.25, 2.0])
        if maybe(rng, 0.2):
            moe["routing"] = {"type": "hash", "hash_salt": rng.randint(1, 10**9)}
        if maybe(rng, 0.2):
            moe["z_loss"] = 0.001
        doc["moe"] = moe
        params = {**MOE_DEFAULTS, **{k: v for k, v in moe.items() if k not in ROUTER_PARAMS}, **inline}
        if "routing" in moe:
            params["routing"] = {**MOE_DEFAULTS["routing"], **moe["routing"]}
        return doc, {"type": kind, "params": params,
                     "refs": {"router": {"kind": "router", "type": router or "softmax", "params": router_params}}}

    def gen_template(self):
        rng = self.rng
        doc_mixer, mixer = self.gen_mixer()
        doc_ffn, ffn = self.gen_ffn()
        doc = {"mixer": doc_mixer, "ffn": doc_ffn}
        norm = {"type": "rmsnorm", "position": "pre"}
        if maybe(rng, 0.4):
            doc["norm"] = {}
            for key, choices in (("type", ["rmsnorm", "layernorm"]), ("position", ["pre", "post"])):
                if maybe(rng):
                    norm[key] = doc["norm"][key] = rng.choice(choices)
        residual = {"type": "sequential", "scaling": 1.0, "hyper": None}
        if maybe(rng, 0.4):
            doc["residual"] = {}
            if maybe(rng):
                residual["type"] = doc["residual"]["type"] = rng.choice(["sequential", "parallel"])
            if maybe(rng):
                residual["scaling"] = doc["residual"]["scaling"] = rng.choice([0.5, 1.0, 2.0])
        kv, ssm = MIXER_STATE[mixer["type"]]
        state = {"kv_cache": kv, "ssm_state": ssm}
        if maybe(rng, 0.25):
            # Explicit flags: a flag the mixer supports may be on; unset explicit flags are false.
            flags = {}
            if maybe(rng):
                flags["kv_cache"] = kv and maybe(rng)
            if maybe(rng) or not flags:
                flags["ssm_state"] = ssm and maybe(rng)
            doc["state"] = flags
            state = {"kv_cache": flags.get("kv_cache", False), "ssm_state": flags.get("ssm_state", False)}
        return doc, {"mixer": mixer, "ffn": ffn, "norm": norm, "residual": residual, "state": state}

    def gen_override(self, tmpl):
        rng = self.rng
        options = [("norm", "type", ["rmsnorm", "layernorm"]), ("norm", "position", ["pre", "post"]),
                   ("residual", "scaling", [0.5, 1.0, 3.0]), ("ffn", "activation", ["swiglu", "gelu", "relu"])]
        if tmpl["mixer"]["type"] == "attention":
            options.append(("attention", "attn_drop", [0.0, 0.2]))
            windows = [rng.randint(1, self.max_seq - 1)]
            if tmpl["mixer"]["params"]["window_mode"] not in ("dilated", "nsa"):
                windows.append(None)
            options.append(("attention", "window", windows))
        override = {}
        for group, key, choices in rng.sample(options, rng.randint(1, len(options))):
            override.setdefault(group, {})[key] = rng.choice(choices)
        return override

    # -------------------------------------------------------------- what the IR must hold

    def expected_layers(self):
        layers = []
        for name, repeat, override in self.groups:
            for _ in range(repeat):
                t = json.loads(json.dumps(self.templates[name]))
                for group, values in (override or {}).items():
                    for key, value in values.items():
                        if group in ("norm", "residual"):
                            t[group][key] = value
                        elif group == "ffn":
                            t["ffn"]["params"][key] = value
                        else:
                            t["mixer"]["params"][key] = value
                layers.append({"template": name, **t})
        return layers


# ------------------------------------------------------------------ an independent parameter count


def count_mixer(mixer, g):
    p = mixer["params"]
    d, hd = g.d_model, g.head_dim
    q, kv = g.n_heads * hd, g.n_kv_heads * hd
    if mixer["type"] == "attention":
        total = 2 * d * q
        total += d * p["latent_dim"] + 2 * p["latent_dim"] * kv if p["latent_dim"] is not None else 2 * d * kv
        sinks = p["attention_sinks"]
        total += g.n_heads * sinks["n_per_head"] if sinks and sinks["learnable"] else 0
        return total + (q + 2 * kv if p["qkv_bias"] else 0)
    if mixer["type"] == "retnet":
        v = p["value_factor"] * d
        return 2 * d * d + 2 * d * v + v * d
    inner, n, k = p["expand"] * d, p["d_state"], p["d_conv"]
    if p["variant"] == "mamba1":
        r = math.ceil(d / 16)
        return d * 2 * inner + inner * k + inner + inner * (r + 2 * n) + r * inner + inner + inner * n + inner + inner * d
    heads, groups = inner // p["head_dim"], p["n_groups"]
    conv = inner + 2 * groups * n
    return d * (2 * inner + 2 * groups * n + heads) + conv * k + conv + 3 * heads + inner + inner * d


def count_ffn(ffn, g):
    p, d = ffn["params"], g.d_model
    f = g.mlp_ratio * d
    bias = p["bias"]
    if ffn["type"] == "mlp":
        return d * f + (f if bias else 0) + f * d + (d if bias else 0)
    if ffn["type"] == "gated_mlp":
        return 2 * (d * f + (f if bias else 0)) + f * d + (d if bias else 0)
    m = 3 if p["expert_type"] == "gated_mlp" else 2
    expert = m * d * f + ((m - 1) * f + d if bias else 0)
    return (p["experts"] + p["shared_experts"]) * expert + d * p["experts"]


def expected_params(g, layers):
    d = g.d_model
    embedding = g.vocab * d + (g.max_seq * d if g.positional["type"] == "learned" else 0)
    norm = lambda n: 2 * d if n["type"] == "layernorm" else d  # noqa: E731
    per_layer = [count_mixer(l["mixer"], g) + count_ffn(l["ffn"], g)
                 + (1 if l["residual"]["type"] == "parallel" else 2) * norm(l["norm"]) for l in layers]
    final = norm(layers[-1]["norm"]) if layers[-1]["norm"]["position"] == "pre" else 0
    head = 0 if (g.tie_emb and g.tie_head) else g.vocab * d
    return {"embedding": embedding, "layers": per_layer, "final_norm": final, "head": head,
            "total": embedding + sum(per_layer) + final + head}


# ------------------------------------------------------------------ IR -> schema v1


def block_to_yaml(block, config_key, inline=()):
    out = {"type": block["type"]}
    params = dict(block["params"])
    for key in inline:
        out[key] = params.pop(key)
    for ref in block.get("refs", {}).values():
        params.update(ref["params"])
    if config_key:
        out[config_key] = params
    else:
        out.update(params)
    return out


def ir_to_spec(ir):
    embedding = {k: v for k, v in ir["embedding"].items() if k != "positional"}
    embedding["positional"] = ir["embedding"]["positional"]["type"]
    embedding.update(ir["embedding"]["positional"]["params"])
    templates = {}
    for name, t in ir["layer_templates"].items():
        mixer_type = t["mixer"]["type"]
        ffn = t["ffn"]
        templates[name] = {
            "mixer": block_to_yaml(t["mixer"], mixer_type),
            "ffn": block_to_yaml(ffn, "moe", ("activation", "bias")) if ffn["type"] == "moe" else block_to_yaml(ffn, None),
            "norm": t["norm"], "residual": t["residual"], "state": t["state"],
        }
    schedule = []
    for group in ir["layer_schedule"]:
        entry = {"template": group["template"], "repeat": group["repeat"]}
        if group["override"] is not None:
            entry["override"] = group["override"]
        schedule.append(entry)
    head = {k: v for k, v in ir["head"].items() if k != "tied"}
    return {"schema_version": 1, "let": ir["let"], "model": ir["model"], "tokenizer_contract": ir["tokenizer_contract"],
            "embedding": embedding, "layer_templates": templates, "layer_schedule": schedule, "head": head,
            "training_hints": ir["training_hints"], "compatibility": ir["compatibility"]}


# ------------------------------------------------------------------ the test


def compile_config(path):
    result = subprocess.run([str(EXE), "compile", str(path), "--print-config"], capture_output=True, text=True,
                            env=clean_env(), timeout=120)
    assert result.returncode == 0, f"{path}:\n{path.read_text()}\n{result.stderr}"
    return result.stdout


def strip_plugin_info(block):
    return {k: v for k, v in block.items() if k not in ("plugin", "plugin_version")}


def run_seed(seed, directory):
    """Generates, compiles (twice for a quarter of the seeds) and round-trips one spec."""
    g = Gen(seed)
    spec = directory / f"spec{seed}.yml"
    spec.write_text(yaml.safe_dump(g.doc, sort_keys=False))
    text = compile_config(spec)
    # Each CLI call costs 10-40 ms: determinism is checked on a quarter of the specs.
    second = compile_config(spec) if seed % 4 == 0 else text
    ir = json.loads(text)
    again = directory / f"again{seed}.yml"
    again.write_text(yaml.safe_dump(ir_to_spec(ir), sort_keys=False))
    return g, text, second, ir, json.loads(compile_config(again))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Every seed's CLI runs, eight at a time (one process per spec and call)."""
    directory = tmp_path_factory.mktemp("roundtrip")
    with ThreadPoolExecutor(max_workers=8) as pool:  # latency-bound: more workers than cores pays off
        futures = {seed: pool.submit(run_seed, seed, directory) for seed in range(N_SPECS)}
    return futures


@pytest.mark.parametrize("seed", range(N_SPECS))
def test_random_spec_compiles_to_its_ir_and_round_trips(compiled, seed):
    g, text, second, ir, round_tripped = compiled[seed].result()  # re-raises a failed compile
    assert second == text, "compiling twice gave different bytes"

    assert ir["let"] == g.let
    model = ir["model"]
    assert (model["d_model"], model["n_heads"], model["n_kv_heads"], model["vocab_size"], model["max_seq_len"],
            model["mlp_ratio"], model["dtype"]) == (g.d_model, g.n_heads, g.n_kv_heads, g.vocab, g.max_seq,
                                                    g.mlp_ratio, g.dtype)
    positional = ir["embedding"]["positional"]
    assert (positional["type"], positional["params"]) == (g.positional["type"], g.positional["params"])
    assert ir["head"]["tied"] == (g.tie_emb and g.tie_head)

    expected = g.expected_layers()
    layers = ir["layers"]
    assert len(layers) == sum(repeat for _, repeat, _ in g.groups)
    for index, (layer, want) in enumerate(zip(layers, expected)):
        assert layer["index"] == index
        assert layer["template"] == want["template"]
        got_mixer = strip_plugin_info(layer["mixer"])
        assert got_mixer == want["mixer"], f"layer {index} mixer"
        got_ffn = strip_plugin_info(layer["ffn"])
        if "refs" in got_ffn:
            got_ffn["refs"] = {k: strip_plugin_info(v) for k, v in got_ffn["refs"].items()}
        assert got_ffn == want["ffn"], f"layer {index} ffn"
        for key in ("norm", "residual", "state"):
            assert layer[key] == want[key], f"layer {index} {key}"

    params = ir["params"]
    assert params["total"] == params["embedding"] + sum(params["layers"]) + params["final_norm"] + params["head"]
    assert params == expected_params(g, expected)

    # Written back as schema v1 with every default explicit, the spec compiles to the same IR.
    assert round_tripped == ir


def test_generated_specs_cover_the_space():
    """The generator reaches every mixer, FFN, positional, override group and the let/${...} path."""
    mixers, ffns, positionals, overrides, lets = set(), set(), set(), set(), 0
    for seed in range(N_SPECS):
        g = Gen(seed)
        mixers |= {t["mixer"]["type"] for t in g.templates.values()}
        ffns |= {t["ffn"]["type"] for t in g.templates.values()}
        positionals.add(g.positional["type"])
        overrides |= {f"{grp}.{k}" for _, _, o in g.groups for grp, v in (o or {}).items() for k in v}
        lets += bool(g.let)
    assert mixers == {"attention", "mamba", "retnet"}
    assert ffns == {"mlp", "gated_mlp", "moe"}
    assert positionals == {"rope", "alibi", "none", "learned"}
    assert overrides == {"norm.type", "norm.position", "residual.scaling", "ffn.activation", "attention.attn_drop",
                         "attention.window"}
    assert lets > N_SPECS // 4
