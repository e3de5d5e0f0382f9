#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) into
# build-fuzz/: fuzz_spec (a spec's bytes through the front end), fuzz_exported_ir
# (config.json as `run --model` reads it), fuzz_safetensors (the header reader),
# fuzz_bundle_manifest (bundle.json), fuzz_tokens (a tokens file; links LibTorch).
# Needs clang (Debian: clang-14) and a configured build/ for the generated headers.
#   bench/fuzz/build.sh [BUILD_DIR]        (default: build, the regular build)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
out=$root/build-fuzz
cxx=${CXX_FUZZ:-$(command -v clang++ || command -v clang++-14)}
python=${PYTHON:-$root/.venv/bin/python}
torch_include=$("$python" "$root/scripts/find_torch.py" | sed -n 's/^include=//p')
torch_lib=$("$python" "$root/scripts/find_torch.py" | sed -n 's/^libdir=//p')
mkdir -p "$out/obj"
flags=(-std=c++17 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
       -D_GLIBCXX_USE_CXX11_ABI=1 -DBOOST_DLL_USE_STD_FS -DBOOST_ALL_NO_LIB
       -DEULERSTACK_INSTALLED_PLUGIN_DIR='"../lib/eulerstack/plugins"' -DEULERSTACK_BUILD_TREE_PLUGIN_DIR='"../plugins"'
       -I"$root/core/sdk/include" -I"$root/core/torch_free/include" -I"$build/core/sdk/include"
       -I"$build/core/torch_free" -idirafter "$torch_include")
objects=()
compile() {  # SOURCE OBJECT [EXTRA FLAGS...]
  local src=$1 obj=$2; shift 2
  if [[ ! -f $obj || $src -nt $obj || -n $(find "$root/core" "$root/plugins" "$build/core" -name '*.hpp' -newer "$obj" -print -quit) ]]; then
    "$cxx" "${flags[@]}" "$@" -c "$src" -o "$obj"
  fi
  objects+=("$obj")
}
for src in "$root"/core/torch_free/src/*.cpp "$root"/core/torch_free/src/spec/*.cpp; do
  compile "$src" "$out/obj/$(basename "$(dirname "$src")")_$(basename "$src" .cpp).o"
done
# The built-in plugins (build/plugins/builtin_plugins.json, the one list): each descriptor and its
# compiled messages, with the alias and the messages' namespace renamed so all of them link into one binary.
registered=()
while read -r name descriptor; do
  renamed=(-Deulerstack_plugin=eulerstack_plugin_$name -Deulerstack_plugin_build=eulerstack_plugin_build_$name)
  compile "$root/$descriptor" "$out/obj/plugin_$name.o" "${renamed[@]}" -DEULERSTACK_PLUGIN_NAME="\"$name\"" \
    -DEULERSTACK_PLUGIN_VERSION='"fuzz"' -DEULERSTACK_PLUGIN_BUNDLE='"builtin"' \
    -DEULERSTACK_PLUGIN_MODULES_LIBRARY='""' -DEULERSTACK_PLUGIN_PYTHON_MODULE='""'
  compile "$build/plugins/eulerstack_${name}_catalogs.cpp" "$out/obj/plugin_${name}_catalogs.o" "${renamed[@]}"
  registered+=("X($name)")
done < <("$python" -c 'import json, sys
for p in json.load(open(sys.argv[1]))["plugins"]: print(p["name"], p["descriptor"])' "$build/plugins/builtin_plugins.json")
compile "$root/bench/fuzz/builtin_registry.cpp" "$out/obj/builtin_registry.o" -DEULERSTACK_FUZZ_PLUGINS="${registered[*]}"
for target in fuzz_spec fuzz_exported_ir fuzz_safetensors fuzz_bundle_manifest; do
  "$cxx" "${flags[@]}" -fsanitize=fuzzer "$root/bench/fuzz/$target.cpp" "${objects[@]}" \
    -lyaml-cpp -lfmt -lcrypto -ldl -o "$out/$target"
done
# The token parser fills a tensor: it links LibTorch (not instrumented; the parser is).
compile "$root/cli/torch/token_ids.cpp" "$out/obj/cli_token_ids.o"
"$cxx" "${flags[@]}" -fsanitize=fuzzer "$root/bench/fuzz/fuzz_tokens.cpp" "${objects[@]}" \
  -lyaml-cpp -lfmt -lcrypto -ldl -L"$torch_lib" -Wl,-rpath,"$torch_lib" -ltorch_cpu -lc10 -o "$out/fuzz_tokens"
echo "built: $out/fuzz_spec $out/fuzz_exported_ir $out/fuzz_safetensors $out/fuzz_bundle_manifest $out/fuzz_tokens"
