#pragma once
// Reading a HuggingFace directory written by `compile --output-dir` (or saved
// again by transformers' save_pretrained): the IR from config.json and the
// weights from model.safetensors or its shards.

#include <filesystem>

#include "eulerstack/param_schema.hpp"
#include "eulerstack/runtime/model.hpp"

namespace eulerstack {

// config.json's `eulerstack_ir`, with config.json's own `vocab_size`, `dtype`
// (or `torch_dtype`) and `tie_word_embeddings` in its model, embedding and head
// sections: transformers changes those (resize_token_embeddings,
// save_pretrained) and they win over a stale IR. Throws Error(IOError): no
// readable config.json, or one without an eulerstack IR.
Json read_exported_ir(const std::filesystem::path& dir);

// Copies every parameter of `model` from the directory's safetensors files
// (converting between float32, bfloat16 and float16), and every buffer the
// files hold (model state a block registered as a buffer; a buffer they
// lack, as in exports from before buffers were saved, keeps its initial zeros). Throws Error(IOError):
// safetensors.invalid for a malformed file, weights.mismatch for a missing or
// unexpected tensor or a shape or dtype that does not fit. A stored
// lm_head.weight is accepted for a tied head (it is the embedding).
void load_weights(CausalLM& model, const std::filesystem::path& dir);

}  // namespace eulerstack
