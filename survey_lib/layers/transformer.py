"""A transformer block over patch tokens, with mask-aware attention (survey §2.3, transformers).

Contextual attention (DeepFill v1) compares hand-made patch features once, at one layer.
Transformers for inpainting make attention *the* building block. The published ones
restrict who sees whom: ICT (Wan et al., ICCV 2021) runs a transformer over *pixel*
tokens of a downsampled, palette-quantised image and hands its coarse result to a CNN
upsampler; MAT (Li et al., CVPR 2022) attends within shifted windows, over valid tokens
only. This block is the simplest member of the family, *global* attention over patch
tokens: every layer lets every token gather information from every other one, so a token
in the middle of a big hole can draw on the whole image from the first layer.

Two ideas from the inpainting transformers are built in:

* **Mask-aware attention.** A token that lies entirely in the hole carries no
  information (only the zeros the hole was blanked with), yet plain attention would
  happily copy from it. ICT (Wan et al., ICCV 2021) keeps masked tokens as queries that
  are reconstructed from the visible ones; MAT (Li et al., CVPR 2022) goes further with a
  *multi-head contextual attention* that aggregates only from valid tokens, using a key
  mask, and **updates the mask** after each block: a token becomes valid once it has
  gathered something from a valid token. :class:`TransformerBlock` takes that key mask
  (True = never attend to this token) and :func:`update_key_mask` applies MAT's rule.
  (MAT attends within windows, so validity spreads gradually; with global attention, as
  here, every token is valid after the first block.)
* **Learned positional embeddings** (:class:`LearnedPositionalEmbedding`): a learned grid,
  resized bilinearly to the token grid of the input, so one model runs at any size.

The block itself is the standard pre-norm one: ``x + MHSA(LN(x))`` then
``x + MLP(LN(x))``; attention runs through
:func:`torch.nn.functional.scaled_dot_product_attention` (fused kernels where available).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from survey_lib.data.checks import InputError


def token_key_mask(mask: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, N) bool from a pixel mask (B, 1, H, W), 1 = hole: True where a patch is all hole.

    Tokens are in row-major order of the (H/patch, W/patch) grid, like
    ``x.flatten(2).transpose(1, 2)`` of a feature map.
    """
    return (F.avg_pool2d(mask, patch) == 1.0).flatten(1)


def update_key_mask(key_mask: torch.Tensor) -> torch.Tensor:
    """MAT's mask update for *global* attention: a masked token that attended to at least
    one valid token becomes valid. With every token seeing every other, that is all of
    them as soon as one token is valid; an image with no valid token stays masked."""
    any_valid = (~key_mask).any(dim=1, keepdim=True)
    return key_mask & ~any_valid


def _attention_mask(key_mask: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """Boolean SDPA mask (B, 1, 1, N), True = may attend; all-masked rows attend everywhere.

    A query must attend to something (a softmax over nothing is NaN); when an image has
    no valid token the mask is dropped for that image.
    """
    if key_mask is None:
        return None
    if key_mask.dtype != torch.bool or key_mask.ndim != 2 or key_mask.shape[1] != n:
        raise InputError(
            f"key_mask must be a bool tensor (B, {n}) with True = do not attend, got "
            f"{key_mask.dtype} of shape {tuple(key_mask.shape)}"
        )
    allowed = ~key_mask
    allowed = allowed | ~allowed.any(dim=1, keepdim=True)
    return allowed[:, None, None, :]


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention with an optional key mask (True = never attend)."""

    def __init__(self, dim: int, heads: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, key_mask: torch.Tensor | None = None, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        allowed = _attention_mask(key_mask, n)
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
        out = self.proj(out.transpose(1, 2).reshape(b, n, d))
        if not return_attention:
            return out
        logits = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        if allowed is not None:
            logits = logits.masked_fill(~allowed, float("-inf"))
        return out, logits.softmax(dim=-1)  # (B, heads, N, N), without dropout


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: ``x + MHSA(LN x)``, ``x + MLP(LN x)``.

    ``forward(tokens (B, N, D), key_mask (B, N) bool or None)``; with
    ``return_attention=True`` also the attention weights (B, heads, N, N), whose columns
    at masked keys are exactly zero.
    """

    def __init__(self, dim: int, heads: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )

    def forward(
        self, tokens: torch.Tensor, key_mask: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 3:
            got = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise InputError(f"tokens must have shape (B, N, D), got {got}")
        res = self.attn(self.norm1(tokens), key_mask, return_attention)
        h, weights = res if return_attention else (res, None)
        x = tokens + h
        x = x + self.mlp(self.norm2(x))
        return (x, weights) if return_attention else x


class LearnedPositionalEmbedding(nn.Module):
    """A learned (grid x grid) embedding, resized bilinearly to the input's token grid.

    ``forward(h, w) -> (1, h*w, dim)``. At the native grid it is the parameter itself; at
    another size it is interpolated (as ViTs do when fine-tuned at a new resolution).
    """

    def __init__(self, dim: int, grid: int = 16) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, dim, grid, grid) * 0.02)

    def forward(self, h: int, w: int) -> torch.Tensor:
        pos = self.weight
        if pos.shape[-2:] != (h, w):
            pos = F.interpolate(pos, size=(h, w), mode="bilinear", align_corners=False)
        return pos.flatten(2).transpose(1, 2)
