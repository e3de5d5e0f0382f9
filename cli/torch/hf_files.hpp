#pragma once
// The non-weight files of an exported HuggingFace model directory.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "eulerstack/param_schema.hpp"
#include "eulerstack/registry.hpp"

namespace eulerstack::cli {

// config.json: model_type eulerstack, architectures, auto_map, dtype, the
// standard keys HF tooling reads, and the full IR (`eulerstack_ir`) from which
// the Python side rebuilds exactly the same model.
Json hf_config(const Json& ir, std::uint64_t seed);
Json generation_config();

// Writes `json` indented; throws Error(IOError) when the write fails.
void write_json(const std::filesystem::path& file, const Json& json);

// Copies configuration_eulerstack.py, modeling_eulerstack.py and the Python
// twin of every plugin the IR uses into `dir`, and writes eulerstack_blocks.py,
// which imports exactly those plugin modules (transformers copies what a
// remote-code file imports relatively). Returns the file names written.
// Throws Error(PluginError) when a used plugin has no Python twin.
std::vector<std::string> write_python_files(const Registry& registry, const Json& ir, const std::filesystem::path& dir);

}  // namespace eulerstack::cli
