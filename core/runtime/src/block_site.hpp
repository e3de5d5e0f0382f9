#pragma once
// Where a plugin's module sits in the model: its plugin, kind, block type,
// layer and the spec path of its block. A failure inside a plugin's module
// (its factory throws, its forward throws or returns the wrong shape) is
// reported as a PluginError naming all of these; the CLI turns the spec path
// (argument `yaml_path`) into file:line when it has the spec.

#include <string>

#include <ATen/core/Tensor.h>

#include "eulerstack/diagnostics.hpp"
#include "eulerstack/param_schema.hpp"

namespace eulerstack {

struct BlockSite {
  std::string plugin;
  std::string kind;   // "mixer", "ffn" or "positional"
  std::string block;  // the block type
  std::string layer;  // the layer's index; empty for the model-wide positional block
  std::string layer_template;
  std::string yaml_path;  // "layer_templates.<template>.mixer", "embedding.positional"

  // `layer` is one entry of the IR's `layers`; `kind` is "mixer" or "ffn".
  static BlockSite of_layer(const Json& layer, const std::string& kind);
  static BlockSite of_positional(const Json& positional);

  MessageArgs args() const;
};

// Call from a catch block: rethrows the exception in flight as an Error naming
// `site`. An Error keeps its message and gains a note and the `yaml_path`;
// anything else becomes `failure_id` (runtime.block_build_failed,
// runtime.block_forward_failed, runtime.model_block_build_failed) with the
// exception's text as the reason.
[[noreturn]] void rethrow_at(const BlockSite& site, const char* failure_id);

// Throws runtime.block_bad_shape unless `output` has the shape of `input`.
void require_same_shape(const BlockSite& site, const at::Tensor& input, const at::Tensor& output);

}  // namespace eulerstack
