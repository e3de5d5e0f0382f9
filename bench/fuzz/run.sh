#!/usr/bin/env bash
# Runs one or all fuzz targets (built by bench/fuzz/build.sh) for SECONDS each,
# niced, one core each, seeded from the presets, the spec corpus and (when
# build/cli/eulerstack exists) configs and weights exported from the mini presets.
# Findings go to build-fuzz/findings/TARGET/; the grown corpus stays in build-fuzz/corpus/TARGET/
# (FUZZ_WORK=DIR puts both under DIR instead). Exits 1 when a target found something.
#   bench/fuzz/run.sh SECONDS [fuzz_spec|fuzz_exported_ir|fuzz_safetensors|fuzz_bundle_manifest|fuzz_tokens]...
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build-fuzz
work=${FUZZ_WORK:-$out}
seconds=${1:?usage: run.sh SECONDS [TARGET...]}
shift
targets=("${@:-fuzz_spec fuzz_exported_ir fuzz_safetensors fuzz_bundle_manifest fuzz_tokens}")
read -r -a targets <<<"${targets[*]}"
exe=$root/build/cli/eulerstack

seed() {  # TARGET DIR
  local target=$1 dir=$2
  mkdir -p "$dir"
  case $target in
    fuzz_spec)
      cp "$root"/presets/*.yml "$dir"/
      for f in "$root"/tests/specs/*/*.yml; do cp "$f" "$dir/$(basename "$(dirname "$f")")_$(basename "$f")"; done
      # each built-in plugin's own cases (build/plugins/builtin_plugins.json names the folders)
      if [[ -f $root/build/plugins/builtin_plugins.json ]]; then
        while read -r folder; do
          for f in "$root/$folder"/tests/specs/*/*.yml; do
            [[ -f $f ]] && cp "$f" "$dir/$(basename "$(dirname "$f")")_$(basename "$f")"
          done
        done < <(python3 -c 'import json, sys
for p in json.load(open(sys.argv[1]))["plugins"]: print(p["folder"])' "$root/build/plugins/builtin_plugins.json")
      fi ;;
    fuzz_bundle_manifest)
      for f in "$root"/build/plugins/bundle.json "$root"/tests/fuzz_seeds/bundle_manifest/*.json; do
        [[ -f $f ]] && cp "$f" "$dir/$(basename "$(dirname "$f")")_$(basename "$f")"
      done ;;
    fuzz_tokens)
      for f in "$root"/tests/fuzz_seeds/tokens/*; do cp "$f" "$dir"/; done ;;
    fuzz_exported_ir | fuzz_safetensors)
      [[ -x $exe ]] || return 0
      for preset in gpt2_style_mini mixtral_style_moe_mini jamba_style_mini retnet_style_mini; do
        if [[ $target == fuzz_exported_ir ]]; then
          "$exe" compile --preset "$preset" --print-config | "${PYTHON:-python3}" -c \
            'import json,sys; print(json.dumps({"model_type": "eulerstack", "eulerstack_ir": json.load(sys.stdin)}))' \
            >"$dir/$preset.json"
        else
          local tmp
          tmp=$(mktemp -d)
          "$exe" compile --preset "$preset" --output-dir "$tmp/m" >/dev/null
          head -c 65536 "$tmp/m/model.safetensors" >"$dir/$preset.head.safetensors"  # header + first tensors
          rm -rf "$tmp"
        fi
      done ;;
  esac
}

status=0
for target in "${targets[@]}"; do
  corpus=$work/corpus/$target findings=$work/findings/$target
  mkdir -p "$findings"
  [[ -d $corpus ]] || seed "$target" "$corpus"
  echo "== $target for ${seconds}s"
  # -timeout: under ASan at -O1 a spec at the limits (16,384 layers) takes ~25 s; the CLI takes 0.5 s.
  nice -n "${FUZZ_NICE:-19}" "$out/$target" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=60 \
    -max_len=131072 -print_final_stats=1 -artifact_prefix="$findings/" 2>&1 | tail -n 25 || status=1
done
exit $status
