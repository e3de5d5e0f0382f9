"""A plugin whose factory throws or whose module returns the wrong shape is
reported with the plugin's name and the layer's place in the spec (issue 7).
The modules come from the `faulty` fixture plugin (tests/fixtures/plugins/faulty)."""
import re

import pytest

from conftest import BUILD

FAULTY = BUILD / "tests" / "fixtures" / "plugins" / "faulty"

SPEC = """\
schema_version: 1
model: {{name: faulty, d_model: 64, vocab_size: 32, max_seq_len: 64, n_heads: 2}}
tokenizer_contract: {{type: hf, pretrained: google/byt5-small}}
embedding: {{type: learned, positional: none}}
layer_templates:
  fine:
    mixer: {{type: faulty_mixer}}
    ffn: {{type: gated_mlp}}
  broken:
    mixer:
      type: {mixer}
      {mixer}: {{fault: {mixer_fault}}}
    ffn:
      type: {ffn}
      {ffn}: {{fault: {ffn_fault}}}
layer_schedule:
  - {{template: fine, repeat: 1}}
  - {{template: broken, repeat: 1}}
head: {{type: causal_lm, tie_weights: true}}
"""


def write_spec(tmp_path, mixer_fault="none", ffn_fault="none", mixer="faulty_mixer"):
    text = SPEC.format(mixer=mixer, mixer_fault=mixer_fault, ffn="faulty_ffn", ffn_fault=ffn_fault)
    path = tmp_path / "spec.yml"
    path.write_text(text)
    return path, text.splitlines()


def line_of(lines, needle, after=None):
    start = 0 if after is None else next(i for i, l in enumerate(lines) if after in l)
    return next(i for i, l in enumerate(lines) if i >= start and needle in l) + 1


def run(cli, spec, *extra):
    """`eulerstack run` on four tokens; stderr has nothing but the run's error."""
    return cli("run", spec, "--tokens", "1,2,3,4", "--plugin-dir", FAULTY, *extra)


def test_the_fixture_runs_when_told_not_to_fail(cli, tmp_path):
    spec, _ = write_spec(tmp_path)
    r = run(cli, spec)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("command", ["run", "compile"])
def test_a_throwing_factory_names_plugin_layer_and_spec_line(cli, tmp_path, command):
    spec, lines = write_spec(tmp_path, mixer_fault="factory")
    if command == "run":
        r = run(cli, spec)
    else:
        r = cli("compile", spec, "--output-dir", tmp_path / "out", "--plugin-dir", FAULTY)
        assert not (tmp_path / "out").exists()
    assert r.returncode == 3, r.stderr
    where = f"{spec}:{line_of(lines, 'type: faulty_mixer', after='broken:')}:"
    assert where in r.stderr, r.stderr
    assert "PluginError" in r.stderr
    assert "could not build the mixer 'faulty_mixer' of plugin 'fixture_faulty' for layer 1 (template 'broken')" \
        in r.stderr
    assert "the fixture's factory was told to fail" in r.stderr
    assert "Fix:" in r.stderr and "See: docs/RUNTIME.md#when-a-block-fails" in r.stderr


def test_a_throwing_forward_is_located_at_its_block(cli, tmp_path):
    spec, lines = write_spec(tmp_path, ffn_fault="forward")
    r = run(cli, spec)
    assert r.returncode == 3, r.stderr
    assert f"{spec}:{line_of(lines, 'type: faulty_ffn', after='broken:')}:" in r.stderr
    assert "the ffn 'faulty_ffn' of plugin 'fixture_faulty' failed in layer 1 (template 'broken')" in r.stderr
    assert "the fixture's forward was told to fail" in r.stderr


@pytest.mark.parametrize("kind,fault", [("mixer", dict(mixer_fault="shape")), ("ffn", dict(ffn_fault="shape"))])
def test_a_wrong_output_shape_is_reported_with_both_shapes(cli, tmp_path, kind, fault):
    spec, lines = write_spec(tmp_path, **fault)
    r = run(cli, spec)
    assert r.returncode == 3, r.stderr
    assert f"{spec}:{line_of(lines, f'type: faulty_{kind}', after='broken:')}:" in r.stderr
    assert re.search(rf"returned shape \[1, 4, 63\] in layer 1 \(template 'broken'\); "
                     rf"it must return its input's shape \[1, 4, 64\]", r.stderr), r.stderr


def test_the_fault_report_is_translated(cli, tmp_path):
    spec, _ = write_spec(tmp_path, mixer_fault="shape")
    r = run(cli, spec, "--lang", "es")
    assert r.returncode == 3
    assert "devolvió la forma [1, 4, 63] en la capa 1 (plantilla 'broken')" in r.stderr, r.stderr


def test_an_error_from_the_catalog_keeps_its_message_and_gains_the_block(cli, tmp_path):
    spec, lines = write_spec(tmp_path, mixer="unbuilt_mixer")
    r = run(cli, spec)
    assert r.returncode == 3, r.stderr
    assert f"{spec}:{line_of(lines, 'type: unbuilt_mixer')}:" in r.stderr, r.stderr
    assert "unbuilt_mixer" in r.stderr.splitlines()[0]
    assert "in the mixer 'unbuilt_mixer' of plugin 'fixture_faulty', layer 1 (template 'broken')" in r.stderr
