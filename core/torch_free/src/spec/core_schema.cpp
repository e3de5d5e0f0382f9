#include "eulerstack/spec/core_schema.hpp"

namespace eulerstack::spec {

const std::vector<ParamSpec>& model_params() {
  static const std::vector<ParamSpec> params{
      param::text("name", std::nullopt).mandatory().describe("model name, shown by explain and written to config.json"),
      param::text("family_hint", std::nullopt).or_null().describe("free-form family label, e.g. full-hybrid"),
      param::integer("d_model", std::nullopt).mandatory().above(0).at_most(limits::kMaxDModel).describe("hidden size"),
      param::integer("vocab_size", std::nullopt).mandatory().above(0).at_most(limits::kMaxVocab).describe("vocabulary size"),
      param::integer("max_seq_len", std::nullopt).mandatory().above(0).at_most(limits::kMaxSeqLen).describe("longest sequence the model is built for"),
      param::integer("n_heads", std::nullopt).mandatory().above(0).at_most(limits::kMaxHeads).describe("heads of the mixers that split d_model into heads"),
      param::integer("n_kv_heads", std::nullopt).above(0).at_most(limits::kMaxHeads).or_null().describe(
          "key/value heads (GQA when fewer than n_heads, MQA at 1); null = n_heads"),
      param::integer("mlp_ratio", 4).above(0).at_most(limits::kMaxMlpRatio).describe("FFN hidden width as a multiple of d_model"),
      param::choice("dtype", {"float32", "float16", "bfloat16"}, "bfloat16").describe("parameter dtype"),
      param::integer("target_params", std::nullopt).above(0).or_null().describe(
          "intended parameter count; explain prints the ratio and realism warns beyond 30%"),
  };
  return params;
}

const std::vector<ParamSpec>& tokenizer_params() {
  static const std::vector<ParamSpec> params{
      param::choice("type", {"hf"}, std::nullopt).mandatory().describe("tokenizer family (hf: a HuggingFace tokenizer)"),
      param::text("pretrained", std::nullopt).mandatory().describe("tokenizer name or path the model expects"),
      param::boolean("add_bos", true).describe("prepend the BOS token"),
      param::boolean("add_eos", true).describe("append the EOS token"),
      param::text("pad_token", std::nullopt).or_null().describe("padding token; null = the tokenizer's"),
  };
  return params;
}

const std::vector<ParamSpec>& embedding_params() {
  static const std::vector<ParamSpec> params{
      param::choice("type", {"learned"}, std::nullopt).mandatory().describe("token embedding kind"),
      param::boolean("tie_word_embeddings", true).describe("share the token embedding with the LM head"),
      param::number("scale", std::nullopt).above(0.0).or_null().describe(
          "multiply embeddings by this (Gemma: sqrt(d_model)); null = 1"),
  };
  return params;
}

const std::vector<ParamSpec>& head_params() {
  static const std::vector<ParamSpec> params{
      param::choice("type", {"causal_lm", "causal_lm_mtp"}, std::nullopt).mandatory().describe(
          "causal_lm: next-token logits; causal_lm_mtp: multi-token prediction"),
      param::boolean("tie_weights", true).describe("reuse the token embedding as the output projection"),
      param::number("logit_softcap", std::nullopt).above(0.0).or_null().describe(
          "cap logits with c*tanh(x/c) (Gemma-2); null = none"),
      param::object("mtp",
                    {param::integer("n_predict", 1).at_least(1).describe("tokens predicted per position"),
                     param::integer("head_layers", 1).at_least(1).describe("layers in the MTP head"),
                     param::text("head_template", "").describe("layer template the MTP head repeats"),
                     param::number("train_loss_weight", 0.1).at_least(0.0).describe("weight of the MTP loss")})
          .or_null()
          .describe("multi-token prediction head (causal_lm_mtp only)"),
  };
  return params;
}

const std::vector<ParamSpec>& training_hints_params() {
  static const std::vector<ParamSpec> params{
      param::text("init", "normal_0.02").describe("weight init scheme, e.g. normal_0.02"),
      param::number("dropout", 0.0).range(0.0, 1.0).describe("residual dropout while training"),
      param::boolean("checkpointing", false).describe("activation checkpointing"),
      param::integer("seed", 1234).at_least(0).describe("seed of the random initial weights"),
      param::number("router_aux_loss_coef", 0.01).at_least(0.0).describe("multiplier on the summed auxiliary losses of routed blocks"),
      param::number("lr_peak", 3e-4).above(0.0).describe("peak learning rate"),
      param::number("lr_floor_ratio", 0.1).range(0.0, 1.0).describe("final learning rate as a fraction of the peak"),
      param::number_list("betas", {0.9, 0.95}).describe("AdamW betas, two numbers in [0, 1)"),
      param::number("weight_decay", 0.1).at_least(0.0).describe("AdamW weight decay"),
      param::number("grad_clip", 1.0).at_least(0.0).describe("gradient norm clip; 0 disables"),
      param::number("warmup_steps_ratio", 0.03).range(0.0, 1.0).describe("warm-up steps as a fraction of all steps"),
      param::number("router_lr_multiplier", 1.0).at_least(0.0).describe("learning-rate multiplier of router parameters"),
      param::choice("optimizer", {"adamw", "muon", "hybrid"}, "adamw").describe("optimizer the trainer should use"),
      param::object("optimizer_groups",
                    {param::text_list("muon", {}).describe("parameter-name globs optimized by Muon"),
                     param::text_list("adamw", {}).describe("parameter-name globs optimized by AdamW")})
          .or_null()
          .describe("which parameters each optimizer of `hybrid` takes"),
      param::object("muon",
                    {param::integer("ns_iters", 8).at_least(1).describe("Newton-Schulz iterations"),
                     param::number_list("ns_coefs", {3.4445, -4.7750, 2.0315}).describe("Newton-Schulz coefficients"),
                     param::integer("stabilize_iters", 2).at_least(0).describe("stabilizing iterations"),
                     param::number_list("stabilize_coefs", {2.0, -1.5, 0.5}).describe("stabilizing coefficients")})
          .or_null()
          .describe("Muon optimizer settings"),
  };
  return params;
}

const std::vector<ParamSpec>& compatibility_params() {
  static const std::vector<ParamSpec> params{
      param::choice("compile_target", {"huggingface"}, "huggingface").describe("what `compile --output-dir` produces"),
      param::choice("dtype_policy", {"uniform", "layered_safe"}, "uniform")
          .describe("uniform: every tensor in model.dtype; layered_safe: norms and routers in float32"),
      param::object("quant_aware_training",
                    {param::boolean("enabled", false).describe("train with fake quantization"),
                     param::choice("dtype", {"fp4", "fp8", "int8"}, "fp8").describe("quantized dtype"),
                     param::text_list("scope", {}).describe("parameter-name globs that are quantized"),
                     param::choice("dequant_to", {"fp4", "fp8", "bf16", "fp32"}, std::nullopt).or_null().describe(
                         "dtype to dequantize to; null = model dtype")})
          .or_null()
          .describe("quantization-aware training hints"),
  };
  return params;
}

const std::vector<ParamSpec>& norm_params() {
  static const std::vector<ParamSpec> params{
      param::choice("type", {"rmsnorm", "layernorm"}, "rmsnorm").overridable().describe(
          "rmsnorm (weight) or layernorm (weight and bias)"),
      param::choice("position", {"pre", "post"}, "pre").overridable().describe(
          "pre: normalize each sublayer's input; post: normalize after each residual add"),
  };
  return params;
}

const std::vector<ParamSpec>& residual_params() {
  static const std::vector<ParamSpec> params{
      param::choice("type", {"sequential", "parallel", "hyper_connection"}, "sequential")
          .describe("sequential: x+mixer, then +ffn; parallel: x + mixer(n(x)) + ffn(n(x)) (GPT-J); hyper_connection: mHC"),
      param::number("scaling", 1.0).overridable().describe("multiplier on each sublayer's output before the add"),
      param::object("hyper", {param::integer("expand", 1).at_least(1).describe("residual streams"),
                              param::choice("mixing", {"birkhoff", "unconstrained", "learned_lowrank"}, "birkhoff")
                                  .describe("stream mixing matrix constraint"),
                              param::integer("sinkhorn_iters", 3).at_least(0).describe("Sinkhorn iterations")})
          .or_null()
          .describe("hyper-connection settings (type: hyper_connection)"),
  };
  return params;
}

const std::vector<ParamSpec>& state_params() {
  static const std::vector<ParamSpec> params{
      param::boolean("kv_cache", false).describe("keep a key/value cache for decoding (default: what the mixer supports)"),
      param::boolean("ssm_state", false).describe("keep a recurrent state for decoding (default: what the mixer supports)"),
  };
  return params;
}

const std::map<std::string, std::string>& unprovided_top_level_keys() {
  static const std::map<std::string, std::string> keys{
      {"execution_modes", "reasoning execution modes (Phase B5)"},
      {"transition", "reasoning phase transition (Phase B5)"},
  };
  return keys;
}

const std::map<std::string, std::string>& unprovided_template_keys() {
  static const std::map<std::string, std::string> keys{
      {"memory", "Titans-style neural memory (Phase B4.1)"},
      {"shape_change", "hourglass shape change (Phase B4.2)"},
  };
  return keys;
}

const std::map<std::string, std::string>& unprovided_schedule_keys() {
  static const std::map<std::string, std::string> keys{
      {"depth_gating", "mixture-of-depths gating (Phase B3.1)"},
      {"parallel", "parallel streams (Phase B3.2)"},
      {"merge", "parallel stream merge (Phase B3.2)"},
      {"integrator", "recursive integrator (Phase B3.3)"},
  };
  return keys;
}

}  // namespace eulerstack::spec
