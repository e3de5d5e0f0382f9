// libFuzzer target: a spec's bytes through the whole front end (input limits,
// YAML, expressions, the three stages, the IR, the parameter count), then the
// IR back through the exported-model check, as `validate`, `explain` and `run --model` do.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "builtin_registry.hpp"
#include "eulerstack/spec/exported_ir.hpp"
#include "eulerstack/spec/frontend.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace eulerstack;
  const auto& registry = fuzz::builtin_registry();
  try {
    auto doc = spec::parse_spec(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yml");
    auto result = spec::compile_spec(std::move(doc), registry);
    if (result.ok()) {
      (void)result.ir.dump(2);
      auto again = spec::compile_spec(spec::spec_of_ir(result.ir, registry, "config.json"), registry);
      if (!again.ok() || spec::ir_difference(result.ir, again.ir)) __builtin_trap();  // an IR must survive its own check
    }
  } catch (const Error&) {
  }
  return 0;
}
