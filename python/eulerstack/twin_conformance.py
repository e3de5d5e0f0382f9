"""Conformance checks for a plugin's Python twin: what the model assumes of every block (docs/EXPORT.md, "The
Python blocks", and docs/PADDING.md). The built-in twins' tests and a third-party plugin's tests call the same
functions; each returns nothing and raises AssertionError naming what failed.

    from eulerstack.twin_conformance import check_module_hygiene, check_mixer_padding, check_ffn_padding
    check_module_hygiene(block)
    check_mixer_padding(make_block, d_model=64)

`make_block()` returns a fresh block, the same each call (seed inside it); mixers get the identity positional
scheme here, their own padding behaviour is what is checked.
"""

from typing import Callable, List, Optional

import torch
from torch import nn

_MODULE_NAMES = frozenset(dir(nn.Module))
_OVERRIDABLE = frozenset({"forward", "extra_repr", "__init__", "__setstate__", "__module__", "__doc__",
                          "__qualname__", "__annotations__", "__dict__", "__weakref__", "__firstlineno__",
                          "__static_attributes__"})


class IdentityPositions(nn.Module):
    """The positional scheme `none`: no embedding, no rotation, no bias."""

    def embed(self, positions):
        return None

    def rotate(self, q, k, positions):
        return q, k

    def attention_bias(self, heads, q_positions, k_positions):
        return None


def module_shadowing(module: nn.Module) -> List[str]:
    """Where a module (or a submodule) defines or sets a name nn.Module has, besides forward and extra_repr."""
    found = []
    for path, sub in module.named_modules():
        for cls in type(sub).__mro__:
            if cls is object or cls.__module__.startswith(("torch.", "transformers.")):
                continue
            for name in sorted((set(vars(cls)) & _MODULE_NAMES) - _OVERRIDABLE):
                found.append(f"{cls.__qualname__}.{name} ({path or 'the block'})")
        for name in sorted((set(vars(sub)) & _MODULE_NAMES) - {"training"}):
            found.append(f"attribute {name} of {path or 'the block'}")
    return found


def check_module_hygiene(module: nn.Module) -> None:
    """No twin class shadows an nn.Module method or attribute (a `_apply` or `type` of its own breaks `.to()`,
    `.half()` and every trainer)."""
    clashes = module_shadowing(module)
    assert not clashes, "shadows nn.Module: " + ", ".join(clashes)


def _layouts(lengths, width):
    """(name, mask [B, width]) with the real tokens on the left, on the right, and split by padding."""
    left = torch.tensor([[False] * (width - n) + [True] * n for n in lengths])
    right = torch.tensor([[True] * n + [False] * (width - n) for n in lengths])
    middle = torch.tensor([[True] + [False] * (width - n) + [True] * (n - 1) for n in lengths])
    return [("left", left), ("right", right), ("middle", middle)]


def _positions(mask):
    return (mask.long().cumsum(1) - 1).masked_fill(~mask, 1)


def _scatter(rows, mask, d):
    """The rows [n_b, d] placed at their real slots of a [B, width, d] batch, noise at the padding."""
    batch = torch.randn(mask.shape[0], mask.shape[1], d, generator=torch.Generator().manual_seed(99)) * 3.0
    for b, row in enumerate(rows):
        batch[b, mask[b]] = row
    return batch


def check_mixer_padding(make_block: Callable[[], nn.Module], d_model: int, lengths=(6, 3, 1), atol: float = 1e-4,
                        with_cache: Optional[bool] = None) -> None:
    """A padded batch gives, at the real tokens, what each row gives alone, with the padding on the left, on the
    right and in the middle; and (for a block with `new_cache()`) a cache filled by a padded call continues as each
    row's own cache does."""
    block = make_block().eval()
    width = max(lengths)
    generator = torch.Generator().manual_seed(7)
    rows = [torch.randn(n, d_model, generator=generator) for n in lengths]
    positional = IdentityPositions()
    with torch.no_grad():
        alone = [block(row.unsqueeze(0), torch.arange(row.shape[0]), positional)[0] for row in rows]
        for name, mask in _layouts(lengths, width):
            out = block(_scatter(rows, mask, d_model), _positions(mask), positional, padding_mask=mask)
            assert torch.isfinite(out).all(), f"{name} padding: non-finite output"
            for b, want in enumerate(alone):
                got = out[b, mask[b]]
                assert torch.allclose(got, want, atol=atol), (
                    f"{name} padding changes row {b}'s real tokens (max diff {(got - want).abs().max():.3g})")
        if with_cache is False or not hasattr(block, "new_cache"):
            return
        step = torch.randn(len(lengths), 1, d_model, generator=generator)
        for name, mask in _layouts(lengths, width)[:2]:
            cache = block.new_cache()
            block(_scatter(rows, mask, d_model), _positions(mask), positional, cache, padding_mask=mask)
            nxt = block(step, torch.tensor(lengths).unsqueeze(1), positional, cache)
            for b, row in enumerate(rows):
                own = block.new_cache()
                block(row.unsqueeze(0), torch.arange(row.shape[0]), positional, own)
                want = block(step[b:b + 1], torch.tensor([row.shape[0]]), positional, own)[0]
                assert torch.allclose(nxt[b], want, atol=atol), (
                    f"after a {name}-padded prefill row {b}'s cache differs from its own "
                    f"(max diff {(nxt[b] - want).abs().max():.3g})")


def check_ffn_padding(make_block: Callable[[], nn.Module], d_model: int, lengths=(6, 3, 1), atol: float = 1e-5,
                      token_ids: bool = False) -> None:
    """An FFN block's real tokens do not depend on the padding tokens beside them (eval mode: no capacity)."""
    block = make_block().eval()
    width = max(lengths)
    generator = torch.Generator().manual_seed(5)
    rows = [torch.randn(n, d_model, generator=generator) for n in lengths]
    ids = [torch.randint(0, 50, (n,), generator=generator) for n in lengths]
    with torch.no_grad():
        alone = [block(row.unsqueeze(0), i.unsqueeze(0) if token_ids else None)[0][0] for row, i in zip(rows, ids)]
        for name, mask in _layouts(lengths, width):
            batch_ids = None
            if token_ids:
                batch_ids = torch.zeros(mask.shape, dtype=torch.long)
                for b, i in enumerate(ids):
                    batch_ids[b, mask[b]] = i
            out = block(_scatter(rows, mask, d_model), batch_ids, padding_mask=mask)[0]
            for b, want in enumerate(alone):
                got = out[b, mask[b]]
                assert torch.allclose(got, want, atol=atol), (
                    f"{name} padding changes row {b}'s real tokens (max diff {(got - want).abs().max():.3g})")
