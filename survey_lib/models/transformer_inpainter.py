"""A compact transformer inpainter: attention as the whole network (survey §2.3, transformers).

Where DeepFill v1 (:mod:`survey_lib.models.deepfill_v1`) adds one attention layer to a
CNN, the inpainting transformers -- ICT (Wan et al., ICCV 2021) and MAT (Li et al.,
CVPR 2022) -- build the core of the network out of attention, each in its own way:

* **ICT** is a bidirectional (BERT-like) transformer over *pixel* tokens of a
  downsampled image whose colours are quantised to a small palette (k-means, 512
  colours); it predicts the masked tokens, sampling several low-resolution appearance
  priors, and a separate CNN upsampler then restores full-resolution texture guided by
  each prior;
* **MAT** is a mask-aware transformer for large holes: attention runs within *shifted
  windows* and only over *valid* tokens, the validity mask being updated from block to
  block (as partial convolution updates its mask); a style manipulation module gives
  diverse outputs.

Neither lets all tokens of the image see each other. This module is a small model in
their spirit, not a reproduction of either -- and it differs from both on exactly that
point, for simplicity at 32-64 px (a few hundred tokens):

* a convolutional **stem** reads ``[image with hole blanked, mask]`` at full resolution
  (its features are also kept as a skip connection, so known detail is not lost);
* a stride-``patch`` convolution turns ``patch x patch`` cells into **tokens** (patch 4 at
  32-64 px: 64-256 tokens), plus a learned positional embedding resized to the grid;
* ``depth`` pre-norm **transformer blocks** with **global** attention (every token may
  attend to every valid token -- MAT restricts this to shifted windows) and MAT's
  *mask-aware* rule: tokens that lie entirely in the hole are never used as keys (they
  hold no information), and the key mask is updated after each block as in MAT (with
  global attention every token is valid after the first block; in MAT's windows validity
  spreads a window at a time -- see :mod:`survey_lib.layers.transformer`);
* a convolutional **head**: tokens back to a map, pixel-shuffle upsampling by ``patch``,
  concatenation with the stem's features, two convolutions and a **sigmoid**.

Unlike ICT, tokens here are continuous patch features (no palette, no token
prediction, one deterministic completion); unlike MAT, there are no windows, one scale
and no style module.

Loss: the same as DeepFill v1's per stage (spatially discounted L1 on the hole, γ = 0.9
as DeepFill's released config, + 1.2 x L1 on the known pixels, region-averaged), so the
notebook compares architectures, not losses.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from survey_lib.layers.transformer import (
    LearnedPositionalEmbedding,
    TransformerBlock,
    token_key_mask,
    update_key_mask,
)
from survey_lib.losses.reconstruction import DEEPFILL_GAMMA, spatially_discounted_l1, valid_l1
from survey_lib.models.base import Method

#: weight of the known-pixel L1 (the same as DeepFill v1's, for a fair comparison)
VALID_WEIGHT = 1.2


class TransformerInpainter(Method):
    """Conv stem -> patch tokens -> mask-aware transformer blocks -> conv head.

    Args:
        channels: image channels (1 or 3).
        width: channels of the stem; tokens have ``dim = 4 * width`` features.
        depth: number of transformer blocks.
        heads: attention heads per block (``4 * width`` must be divisible by it).
        patch: side of the cell each token covers (the model's stride).
        mask_aware: never attend to all-hole tokens (MAT/ICT's idea); ``False`` is plain
            self-attention, for the ablation exercise.
        mask_update: apply MAT's mask update between blocks (otherwise the initial key
            mask is used in every block).
        pos_grid: side of the learned positional-embedding grid (resized to the input).
    """

    name: ClassVar[str] = "transformer"
    stride: ClassVar[int] = 4

    def __init__(
        self,
        channels: int = 3,
        width: int = 32,
        depth: int = 4,
        heads: int = 4,
        patch: int = 4,
        mask_aware: bool = True,
        mask_update: bool = True,
        pos_grid: int = 16,
        dropout: float = 0.0,
        valid_weight: float = VALID_WEIGHT,
        gamma: float = DEEPFILL_GAMMA,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        dim = 4 * width
        if dim % heads:
            raise ValueError(f"4 * width = {dim} must be divisible by heads = {heads}")
        if patch < 1 or depth < 1:
            raise ValueError(f"patch and depth must be >= 1, got patch={patch}, depth={depth}")
        self.channels, self.patch, self.dim = channels, patch, dim
        self.stride = patch  # type: ignore[misc]
        self.mask_aware, self.mask_update = mask_aware, mask_update
        self.valid_weight, self.gamma = valid_weight, gamma
        self.stem = nn.Sequential(
            nn.Conv2d(channels + 1, width, 3, padding=1), nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1), nn.GELU(),
        )
        self.to_tokens = nn.Conv2d(width, dim, patch, stride=patch)
        self.pos = LearnedPositionalEmbedding(dim, pos_grid)
        self.blocks = nn.ModuleList(TransformerBlock(dim, heads, dropout=dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.from_tokens = nn.Sequential(nn.Conv2d(dim, width * patch * patch, 1), nn.PixelShuffle(patch))
        self.head = nn.Sequential(
            nn.Conv2d(2 * width, width, 3, padding=1), nn.GELU(),
            nn.Conv2d(width, channels, 3, padding=1),
        )

    def _predict(
        self, blanked: torch.Tensor, mask: torch.Tensor, return_attention: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = self.stem(torch.cat([blanked, mask], 1))
        grid = self.to_tokens(feats)
        b, d, h, w = grid.shape
        tokens = grid.flatten(2).transpose(1, 2) + self.pos(h, w)
        key_mask = token_key_mask(mask, self.patch) if self.mask_aware else None
        weights: list[torch.Tensor] = []
        for block in self.blocks:
            if return_attention:
                tokens, att = block(tokens, key_mask, return_attention=True)
                weights.append(att)
            else:
                tokens = block(tokens, key_mask)
            if key_mask is not None and self.mask_update:
                key_mask = update_key_mask(key_mask)
        grid = self.norm(tokens).transpose(1, 2).reshape(b, d, h, w)
        out = self.head(torch.cat([self.from_tokens(grid), feats], 1))
        return torch.sigmoid(out), weights

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Prediction (B, C, H, W) in [0, 1]; the hole of ``image`` is blanked again here."""
        image, mask = self.check_inputs(image, mask)
        return self._predict(image * (1 - mask), mask)[0]

    def attention_weights(self, image: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """Per block, the attention weights (B, heads, N, N) over the row-major token grid."""
        image, mask = self.check_inputs(image, mask)
        return self._predict(image * (1 - mask), mask, return_attention=True)[1]

    def generator_losses(self, image: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        image, mask = self.check_inputs(image, mask)
        pred = self._predict(image * (1 - mask), mask)[0]
        hole = spatially_discounted_l1(pred, image, mask, gamma=self.gamma, normalize="region")
        valid = valid_l1(pred, image, mask, normalize="region")
        return {"hole": hole, "valid": self.valid_weight * valid}
