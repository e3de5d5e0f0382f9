// libFuzzer target: config.json bytes as `run --model` reads them (bounded
// JSON, then the IR recompiled from its own sections and compared).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "builtin_registry.hpp"
#include "eulerstack/bounded_json.hpp"
#include "eulerstack/spec/exported_ir.hpp"
#include "eulerstack/spec/frontend.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace eulerstack;
  std::string why;
  auto config = parse_bounded_json(std::string_view(reinterpret_cast<const char*>(data), size), 64, why);
  if (!config || !config->is_object() || !config->contains("eulerstack_ir")) return 0;
  const auto& registry = fuzz::builtin_registry();
  try {
    const Json& ir = config->at("eulerstack_ir");
    auto result = spec::compile_spec(spec::spec_of_ir(ir, registry, "config.json"), registry);
    if (result.ok()) (void)spec::ir_difference(ir, result.ir);
  } catch (const Error&) {
  }
  return 0;
}
