"""Scaffolding shared by the tests of the Python twins (test_twin_*.py).

One copy of what every twin test needs: loading a twin from plugins/**/eulerstack_<plugin>.py,
the model section of tests/runtime/support.cpp, a stand-in for core's ModuleContext, module registrar and
builder (docs/EXPORT.md, "The Python blocks"), a positional scheme that counts its calls, random
inputs, comparisons, and the check that a twin imports only torch and the standard library. What
differs between the plugins (their documented defaults above all) is passed in by the test files.
"""

import ast
import copy
import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"

# The positional plugin's documented defaults (positional_plugin.cpp): rope's parameters; the others have none.
POSITIONAL_DEFAULTS = {
    "rope": {"rope_theta": 10000.0, "rope_scaling": None, "partial_rotary_factor": 1.0},
    "alibi": {},
    "learned": {},
    "none": {},
}


# --- the twins --------------------------------------------------------------------------------


# The package the twins are loaded into, as in an export: each twin's folder and core's Python files
# (the SDK module eulerstack_sdk.py that twins import relatively).
TWIN_PACKAGE = "eulerstack_twins"
CORE_PYTHON = ROOT / "core" / "hf_python"


def _twin_package(folder):
    package = sys.modules.get(TWIN_PACKAGE)
    if package is None:
        package = types.ModuleType(TWIN_PACKAGE)
        package.__path__ = [str(CORE_PYTHON)]
        sys.modules[TWIN_PACKAGE] = package
    if str(folder) not in package.__path__:
        package.__path__.append(str(folder))
    return package


def load_twin(path):
    """The twin at `path` as module `eulerstack_twins.<file stem>`, loaded once: it stays in sys.modules under
    that name, as transformers' remote code is importable by name, so that pickling finds its classes and every
    test file that loads it sees the same module object."""
    path = Path(path)
    name = f"{TWIN_PACKAGE}.{path.stem}"
    if getattr(sys.modules.get(name), "__file__", None) == str(path):
        return sys.modules[name]
    _twin_package(path.parent)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# What a twin may import relatively: the SDK module beside it.
SDK_MODULE = "eulerstack_sdk"


def imported_roots(path):
    """The top-level modules the file at `path` imports (the SDK module for its relative import); fails on
    any other relative import."""
    roots = set()
    for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert (node.level, node.module) == (1, SDK_MODULE), "relative import in %s" % Path(path).name
                roots.add(SDK_MODULE)
            else:
                roots.add(node.module.split(".")[0])
    return roots


# --- a stand-in for core's side ---------------------------------------------------------------


def model_section(**changes):
    """tests/runtime/support.cpp's model_section: d 64, 4 heads, 2 KV heads, max_seq_len 256."""
    model = {"name": "test", "d_model": 64, "vocab_size": 97, "max_seq_len": 256, "n_heads": 4,
             "n_kv_heads": 2, "mlp_ratio": 2, "dtype": "float32"}
    model.update(changes)
    return model


def merge(into, changes):
    """Merges `changes` into `into`, nested dicts key by key; returns `into`."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
    return into


@dataclass
class ModuleContext:
    """A stand-in for core's ModuleContext (docs/EXPORT.md)."""

    model: Dict[str, Any]
    params: Dict[str, Any]
    refs: Dict[str, Any] = field(default_factory=dict)
    layer_index: int = 0
    n_layers: int = 2
    init_std: float = 0.02
    builder: Any = None


def block_context(defaults, params=None, model=None, n_layers=2, init_std=0.02, layer_index=0, builder=None,
                  refs=None):
    """A block's context: its plugin's documented `defaults` with `params` merged in, in `model`
    (model_section() by default)."""
    filled = merge(copy.deepcopy(defaults), params or {})
    return ModuleContext(model if model is not None else model_section(), filled, dict(refs or {}),
                        layer_index, n_layers, init_std, builder)


def positional_context(type_, params=None, model=None, init_std=0.02):
    """The context of positional scheme `type_`: the positional block sits outside the layers."""
    return block_context(POSITIONAL_DEFAULTS[type_], params, model, init_std=init_std, layer_index=-1)


class ModuleRegistrar:
    """core's module registrar as a twin's register() sees it: records the kinds in `accepts`; registering
    any other kind fails."""

    TABLES = {"mixer": "mixers", "positional": "positionals", "ffn": "ffns", "router": "routers"}

    def __init__(self, *accepts):
        self.accepts = set(accepts)
        for kind in accepts:
            setattr(self, self.TABLES[kind], {})

    def _add(self, kind, name, factory):
        if kind not in self.accepts:
            raise AssertionError("these twins register no %s" % kind)
        getattr(self, self.TABLES[kind])[name] = factory

    def mixer(self, name, factory):
        self._add("mixer", name, factory)

    def positional(self, name, factory):
        self._add("positional", name, factory)

    def ffn(self, name, factory):
        self._add("ffn", name, factory)

    def router(self, name, factory):
        self._add("router", name, factory)


class ModuleCatalog:
    """core's module catalog as far as the blocks use it: make_router builds a referenced router block from
    `registrar`; with no registrar, `owner` must not build routers at all."""

    def __init__(self, registrar=None, owner="this block"):
        self.registrar, self.owner = registrar, owner

    def make_router(self, ref, parent):
        if self.registrar is None:
            raise AssertionError("%s must not build routers" % self.owner)
        # A referenced block sees its own parameters plus the referring block's (module_catalog.cpp).
        params = dict(ref["params"])
        params.update(parent.params)
        ctx = ModuleContext(parent.model, params, ref.get("refs", {}), parent.layer_index, parent.n_layers,
                           parent.init_std, self)
        return self.registrar.routers[ref["type"]](ctx)


class SpyPositional:
    """The model's positional scheme, for blocks that must not use it: counts the calls."""

    def __init__(self):
        self.calls = 0

    def embed(self, positions):
        self.calls += 1
        return None

    def rotate(self, q, k, positions):
        self.calls += 1
        return q, k

    def attention_bias(self, heads, q_positions, k_positions):
        self.calls += 1
        return None


# --- tensors ----------------------------------------------------------------------------------


def random(shape, seed, dtype=torch.float32, scale=1.0):
    """`scale` times standard normal values of `shape` from a generator seeded `seed`, drawn in float32."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(*shape, generator=generator, dtype=torch.float32)
    if scale != 1.0:
        values = scale * values
    return values.to(dtype)


def inputs(batch, tokens, d, seed=3, dtype=torch.float32, scale=1.0):
    """Hidden states [batch, tokens, d]: random((batch, tokens, d), ...)."""
    return random((batch, tokens, d), seed, dtype, scale)


def positions(offset, length):
    return torch.arange(offset, offset + length, dtype=torch.long)


def sharpen(module, factor=10.0):
    """Scales every weight so that the outputs are far from what init_std 0.02 gives (near-uniform
    softmax, tiny q.k), which hides the differences the tests look for."""
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(factor)


def init_all(module):
    """Every module initialises the tensors it owns directly (as transformers' _init_weights does)."""
    for sub in module.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()


def weights(module):
    """The module's parameters by name, detached, in float64."""
    return {name: p.detach().double() for name, p in module.named_parameters()}


def relative_diff(a, reference, floor=0.0):
    """max |a - reference| relative to max |reference| (at least `floor`)."""
    a, reference = a.detach().double(), reference.detach().double()
    return ((a - reference).abs().max() / reference.abs().max().clamp_min(floor)).item()


def max_abs_diff(a, b):
    return (a.detach().double() - b.detach().double()).abs().max().item()
