#include "block_site.hpp"

#include <exception>

#include <c10/util/Exception.h>

namespace eulerstack {
namespace {

BlockSite site_of(const Json& block, std::string kind) {
  BlockSite site;
  site.plugin = block.at("plugin").get<std::string>();
  site.block = block.at("type").get<std::string>();
  site.kind = std::move(kind);
  return site;
}

std::string shape_text(const at::Tensor& t) { return c10::str(t.sizes()); }

}  // namespace

BlockSite BlockSite::of_layer(const Json& layer, const std::string& kind) {
  BlockSite site = site_of(layer.at(kind), kind);
  site.layer = std::to_string(layer.at("index").get<int>());
  site.layer_template = layer.at("template").get<std::string>();
  site.yaml_path = "layer_templates." + site.layer_template + "." + kind;
  return site;
}

BlockSite BlockSite::of_positional(const Json& positional) {
  BlockSite site = site_of(positional, "positional");
  site.yaml_path = "embedding.positional";
  return site;
}

MessageArgs BlockSite::args() const {
  return {{"plugin", plugin}, {"kind", kind},         {"block", block},
          {"layer", layer},   {"template", layer_template}, {"yaml_path", yaml_path}};
}

void rethrow_at(const BlockSite& site, const char* failure_id) {
  auto failure = [&](std::string reason) {
    MessageArgs args = site.args();
    args["reason"] = std::move(reason);
    return Error(make_error("PluginError", failure_id, std::move(args)));
  };
  try {
    throw;
  } catch (const Error& e) {
    std::vector<Diagnostic> diagnostics = e.diagnostics();
    Diagnostic& first = diagnostics.front();
    first.notes.push_back({site.layer.empty() ? "note.in_model_block" : "note.in_layer_block", site.args()});
    first.args.emplace("yaml_path", site.yaml_path);
    throw Error(std::move(diagnostics));
  } catch (const c10::Error& e) {
    throw failure(e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw failure(e.what());
  } catch (...) {
    throw failure("an exception that is not a std::exception");
  }
}

void require_same_shape(const BlockSite& site, const at::Tensor& input, const at::Tensor& output) {
  if (output.defined() && output.sizes() == input.sizes()) return;
  MessageArgs args = site.args();
  args["expected"] = shape_text(input);
  args["got"] = output.defined() ? shape_text(output) : "undefined";
  throw Error(make_error("PluginError", "runtime.block_bad_shape", args));
}

}  // namespace eulerstack
