"""explain --format svg|html|mermaid and --compare: the pictures are well formed, show every layer
with the exact counts of the IR, the decode state the blocks declare, the schedule's groups and
overrides, and work for a block core has never heard of. The HTML page is rendered by a headless
chromium where one is installed."""
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import BUILD, EXE, ROOT, clean_env
from presets import PRESETS

SVG = "{http://www.w3.org/2000/svg}"
FIXTURE_PLUGIN_DIR = BUILD / "tests" / "fixtures" / "plugins" / "good"


def explain(*args, env=None):
    r = subprocess.run([str(EXE), "explain", *map(str, args)], capture_output=True, text=True,
                       env=env or clean_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def compiled(spec, *extra):
    r = subprocess.run([str(EXE), "compile", str(spec), "--print-config", *extra], capture_output=True, text=True,
                       env=clean_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def layers_of(root):
    return root.findall(f".//{SVG}g[@class='layer']")


def all_text(root):
    return " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


def grouped(n):
    return f"{n:,}"


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_draws_one_band_per_layer_with_the_exact_counts(preset):
    ir = compiled(preset)
    root = ET.fromstring(explain(preset, "--format", "svg"))
    assert root.tag == f"{SVG}svg"
    bands = layers_of(root)
    assert [int(b.get("data-index")) for b in bands] == list(range(len(ir["layers"])))
    assert [b.get("data-template") for b in bands] == [layer["template"] for layer in ir["layers"]]
    assert [b.get("data-mixer") for b in bands] == [layer["mixer"]["type"] for layer in ir["layers"]]
    assert [int(b.get("data-params")) for b in bands] == ir["params"]["layers"]
    total = ir["params"]["total"]
    assert int(root.get("data-total-params")) == total
    assert grouped(total) in all_text(root)
    # the parameters-by-block bar adds up to the total exactly
    slices = root.findall(f".//{SVG}rect[@class='slice']")
    assert sum(int(s.get("data-params")) for s in slices) == total
    groups = root.findall(f".//{SVG}g[@class='group']")
    assert [(int(g.get("data-first")), int(g.get("data-repeat"))) for g in groups] == [
        (sum(x["repeat"] for x in ir["layer_schedule"][:i]), x["repeat"]) for i, x in enumerate(ir["layer_schedule"])]
    if ir["model"].get("target_params"):
        ratio = 100.0 * total / ir["model"]["target_params"]
        assert f"{ratio:.1f}%" in all_text(root)


def head_dim(model):
    return model["d_model"] // model["n_heads"]


def dtype_bytes(model):
    return 4 if model["dtype"] == "float32" else 2


def expected_state(model, layer):
    """The bytes each built-in mixer keeps for one sequence at max_seq_len (the plugins' cache layouts)."""
    mixer, params, tokens = layer["mixer"]["type"], layer["mixer"]["params"], model["max_seq_len"]
    if mixer == "attention":
        held = tokens
        if params.get("window") is not None and params["window_mode"] != "nsa":
            held = min(tokens, params["window"] - 1)
        return held * (2 * model["n_kv_heads"] * head_dim(model) * dtype_bytes(model) + 8)
    if mixer == "mamba":
        inner = params["expand"] * model["d_model"]
        conv = inner + 2 * params["n_groups"] * params["d_state"] if params["variant"] == "mamba2" else inner
        return inner * params["d_state"] * 4 + (params["d_conv"] - 1) * conv * dtype_bytes(model)
    if mixer == "retnet":
        d, heads = model["d_model"], model["n_heads"]
        return heads * (d // heads) * (params["value_factor"] * d // heads) * 4
    raise AssertionError(f"no expectation for {mixer}")


@pytest.mark.parametrize("preset", ["jamba_style", "mistral_style", "retnet_attn_hybrid", "mamba2_style_mini",
                                    "deepseek_style_mla_moe"])
def test_decode_state_per_layer_is_what_the_blocks_keep(preset):
    ir = compiled(preset)
    root = ET.fromstring(explain(preset, "--format", "svg"))
    states = [int(b.get("data-state-bytes")) for b in layers_of(root)]
    assert states == [expected_state(ir["model"], layer) for layer in ir["layers"]]
    assert int(root.get("data-state-bytes")) == sum(states)


def test_overridden_groups_are_marked_at_their_layers():
    ir = compiled("mistral_style")
    root = ET.fromstring(explain("mistral_style", "--format", "svg"))
    marked = [int(b.get("data-index")) for b in layers_of(root) if b.get("data-overrides") != "0"]
    overridden, first = [], 0
    for group in ir["layer_schedule"]:
        if group["override"]:
            overridden += range(first, first + group["repeat"])
        first += group["repeat"]
    assert marked == overridden and marked
    assert len(root.findall(f".//{SVG}path[@class='override']")) == len(overridden)
    assert "attention.window = 4096" in all_text(root)


def test_a_deep_stack_keeps_one_band_per_layer_and_fits_its_height(tmp_path):
    spec = tmp_path / "deep.yml"
    spec.write_text("""schema_version: 1
model: {name: deep, d_model: 64, vocab_size: 97, max_seq_len: 128, n_heads: 4}
tokenizer_contract: {type: hf, pretrained: gpt2}
embedding: {type: learned, positional: rope}
layer_templates:
  a: {mixer: {type: attention}, ffn: {type: mlp}}
  m: {mixer: {type: mamba, mamba: {head_dim: 16}}, ffn: {type: mlp}}
layer_schedule: [{template: a, repeat: 150}, {template: m, repeat: 150}]
head: {type: causal_lm}
""")
    root = ET.fromstring(explain(spec, "--format", "svg"))
    bands = layers_of(root)
    assert len(bands) == 300
    tops = [float(b.find(f"{SVG}rect[@class='mixer']").get("y")) for b in bands]
    assert all(b > a for a, b in zip(tops, tops[1:]))  # in schedule order, none overlapping the next
    assert float(root.get("height")) < 1400  # thin bands, not 300 full-height rows


def residual_marks(preset):
    root = ET.fromstring(explain(preset, "--format", "svg"))
    return {t.text for band in layers_of(root) for t in band.findall(f"{SVG}text[@class='residual']")}


def test_parallel_residual_is_drawn_as_two_streams():
    assert residual_marks("phi_style_parallel_mini") == {"\u2225"}
    assert residual_marks("llama_style_mini") == {"\u2192"}


def test_labels_come_from_the_block_schema():
    text = all_text(ET.fromstring(explain("mixtral_style_moe_mini", "--format", "svg")))
    ir = compiled("mixtral_style_moe_mini")
    moe = ir["layers"][0]["ffn"]["params"]
    assert f"moe \u00b7 experts {moe['experts']} \u00b7 top_k {moe['top_k']}" in text


def test_a_block_core_does_not_know_is_drawn_with_its_state_unknown(tmp_path):
    spec = tmp_path / "good.yml"
    spec.write_text("""schema_version: 1
model: {name: fixture-model, d_model: 64, vocab_size: 97, max_seq_len: 128, n_heads: 4}
tokenizer_contract: {type: hf, pretrained: gpt2}
embedding: {type: learned, positional: none}
layer_templates:
  odd: {mixer: {type: good_mixer, good_mixer: {width: 3}}, ffn: {type: mlp}}
layer_schedule: [{template: odd, repeat: 3}]
head: {type: causal_lm}
""")
    root = ET.fromstring(explain(spec, "--format", "svg", "--plugin-dir", FIXTURE_PLUGIN_DIR))
    bands = layers_of(root)
    assert [b.get("data-mixer") for b in bands] == ["good_mixer"] * 3
    assert all(b.get("data-state-bytes") == "" for b in bands)
    assert "test fixture: a mixer with a complete schema" in all_text(root)  # the legend, from the schema


def mixer_fills(preset):
    root = ET.fromstring(explain(preset, "--format", "svg"))
    out = {}
    for band in layers_of(root):
        out.setdefault(band.get("data-mixer"), set()).add(band.find(f"{SVG}rect[@class='mixer']").get("fill"))
    return out


def test_each_mixer_type_has_one_colour_of_its_own_and_keeps_it():
    jamba = mixer_fills("jamba_style_mini")
    assert set(jamba) == {"mamba", "attention"}
    assert all(len(fills) == 1 for fills in jamba.values())
    assert jamba["mamba"] != jamba["attention"]
    assert mixer_fills("mamba2_style_mini")["mamba"] == jamba["mamba"]  # the hue is the name's, not the picture's


def test_mermaid_is_a_chain_of_the_schedule_groups():
    ir = compiled("jamba_style_mini")
    text = explain("jamba_style_mini", "--format", "mermaid")
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    nodes = dict(re.findall(r'^\s+(\w+)\["([^"]*)"\]$', text, re.M))
    assert list(nodes) == ["embedding"] + [f"g{i}" for i in range(len(ir["layer_schedule"]))] + ["head"]
    edges = re.findall(r"^\s+(\w+) --> (\w+)$", text, re.M)
    order = list(nodes)
    assert edges == list(zip(order, order[1:]))
    defined = set(re.findall(r"^\s+classDef (\w+) ", text, re.M))
    for name in re.findall(r"^\s+class [\w,]+ (\w+)$", text, re.M):
        assert name in defined
    assert not re.search(r'\["[^"]*"[^\]]', text)  # a quote never ends a label early


def test_mermaid_draws_parallel_groups_as_subgraphs():
    text = explain("phi_style_parallel_mini", "--format", "mermaid")
    assert re.search(r'^\s+subgraph g0 \["', text, re.M)
    assert re.search(r"^\s+direction LR$", text, re.M)
    assert text.count("subgraph") == text.count("\n  end")


def test_compare_marks_the_layers_and_leaves_that_differ():
    a, b = compiled("llama_style_mini"), compiled("mistral_style_mini")
    root = ET.fromstring(explain("llama_style_mini", "--compare", "mistral_style_mini", "--format", "svg"))
    sides = root.findall(f".//{SVG}g[@class='side']")
    assert [len(layers_of(s)) for s in sides] == [len(a["layers"]), len(b["layers"])]
    differing = {i for i in range(max(len(a["layers"]), len(b["layers"])))
                 if i >= len(a["layers"]) or i >= len(b["layers"]) or a["layers"][i] != b["layers"][i]}
    for side in sides:
        assert {int(x.get("data-index")) for x in layers_of(side) if x.get("data-differs") == "true"} == {
            i for i in differing if any(int(x.get("data-index")) == i for x in layers_of(side))}
    listed = root.find(f".//{SVG}g[@class='differences']")
    assert int(listed.get("data-count")) > 0
    assert f"model.name: \"{a['model']['name']}\" \u2192 \"{b['model']['name']}\"" in all_text(root)


def test_a_spec_compared_with_itself_has_no_differences():
    root = ET.fromstring(explain("gpt2_style_mini", "--compare", "gpt2_style_mini", "--format", "svg"))
    assert not [x for x in layers_of(root) if x.get("data-differs") == "true"]
    assert root.find(f".//{SVG}g[@class='differences']").get("data-count") == "0"
    text = explain("gpt2_style_mini", "--compare", "gpt2_style_mini")
    assert "Differences: 0" in text and "the two specs compile to the same model" in text


def test_compare_in_mermaid_has_both_models():
    text = explain("llama_style_mini", "--compare", "mistral_style_mini", "--format", "mermaid")
    assert text.splitlines()[0] == "flowchart LR"
    assert re.search(r'^  subgraph a_model \[', text, re.M) and re.search(r'^  subgraph b_model \[', text, re.M)
    assert "class " in text and "differs" in text


def test_text_stays_the_default():
    assert explain("llama_style_mini", "--format", "text") == explain("llama_style_mini")


def test_output_is_written_atomically(tmp_path):
    target = tmp_path / "model.svg"
    target.write_text("old")
    os.chmod(target, 0o640)
    out = explain("llama_style_mini", "--format", "svg", "--output", target)
    assert str(target) in out
    assert target.read_text() == explain("llama_style_mini", "--format", "svg")
    assert (target.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["model.svg"]
    link = tmp_path / "link.svg"
    link.symlink_to(target)
    r = subprocess.run([str(EXE), "explain", "llama_style_mini", "--format", "svg", "--output", str(link)],
                       capture_output=True, text=True, env=clean_env(), timeout=60)
    assert r.returncode == 4 and "IOError" in r.stderr


@pytest.mark.parametrize("args", [["--format", "png"], ["--json", "--format", "svg"],
                                  ["--json", "--compare", "gpt2_style_mini"]])
def test_bad_format_choices_are_usage_errors(args):
    r = subprocess.run([str(EXE), "explain", "gpt2_style_mini", *args], capture_output=True, text=True,
                       env=clean_env(), timeout=60)
    assert r.returncode == 2 and "UsageError" in r.stderr and "See: docs/CLI.md" in r.stderr


def test_an_invalid_compared_spec_is_an_invalid_spec(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("schema_version: 1\n")
    r = subprocess.run([str(EXE), "explain", "gpt2_style_mini", "--compare", str(bad), "--format", "svg"],
                       capture_output=True, text=True, env=clean_env(), timeout=60)
    assert r.returncode == 1 and "ValidationError" in r.stderr and r.stdout == ""


def test_pictures_speak_the_chosen_language():
    text = all_text(ET.fromstring(explain("llama_style_mini", "--format", "svg", "--lang", "ko")))
    assert "블록별 파라미터" in text


def test_html_is_one_self_contained_page():
    page = explain("jamba_style_mini", "--format", "html")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "src=" not in page and "href=" not in page
    svg = page[page.index("<svg"):page.index("</svg>") + len("</svg>")]
    assert len(layers_of(ET.fromstring(svg))) == len(compiled("jamba_style_mini")["layers"])
    assert "Layer schedule:" in page  # the text report


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(not chromium(), reason="chromium is not installed (scripts/setup installs Debian's chromium)")
def test_html_page_renders_in_a_browser(tmp_path):
    from PIL import Image

    page = tmp_path / "page.html"
    page.write_text(explain("jamba_style", "--format", "html"))
    shot = tmp_path / "shot.png"
    r = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,900",
                        f"--screenshot={shot}", page.as_uri()],
                       capture_output=True, text=True, timeout=120, env=clean_env(HOME=tmp_path))
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1100, 900)
    colours = image.getcolors(maxcolors=1 << 20)
    white = sum(n for n, c in colours if c == (255, 255, 255))
    assert white < 0.9 * image.size[0] * image.size[1], "the page rendered (almost) blank"
    assert len(colours) > 50  # the bands' colours, antialiased text: a picture, not a flat fill
