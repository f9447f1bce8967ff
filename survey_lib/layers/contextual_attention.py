"""Contextual attention (DeepFill v1, Yu et al., CVPR 2018; survey §2.3).

A convolution only sees a neighbourhood, so a network with a large hole must *invent*
its content. Contextual attention instead lets every position of the hole **copy**
features from wherever in the known region they match best: the learned, differentiable
descendant of exemplar-based inpainting (Criminisi et al. 2004) and PatchMatch.

The steps, exactly as in the reference implementation (``foreground`` = the feature map
to fill, ``background`` = the map to copy from; the network passes the same map twice):

1. Cut **raw** ``2r x 2r`` background patches at stride ``r`` (TF "SAME" padding): they
   are what gets pasted back, at full resolution.
2. Downsample foreground and background by ``r`` (nearest: keep every ``r``-th pixel).
3. Cut ``k x k`` (3 x 3) patches of the downsampled background, L2-normalise each one
   (norm floored at 1e-4) and correlate them with the downsampled foreground: a
   convolution whose kernels are the patches gives a score for every (foreground
   position, background patch) pair -- cosine similarity up to the foreground's norm.
4. Optional **fuse**: view the scores as a matrix (foreground positions x background
   patches, both flattened row-major) and convolve it with a ``fuse_k x fuse_k`` identity
   kernel; re-order both axes column-major and do it again. A diagonal step moves the
   foreground and the background position together, so a match scores higher when its
   neighbours match the neighbours too: coherent copies of larger regions win. (As in
   the reference, the flattening means a step past the end of a row continues on the
   next row; the one-shot path reproduces this literally and the chunked path exactly.)
5. Background patches that touch the hole are **masked out** and a softmax with scale
   10 runs over the remaining patches.
6. Paste back: a transposed convolution of the attention map with the raw patches as
   kernels, stride ``r``, divided by 4 (every output pixel is covered by 2 x 2 patches).

Steps 3 and 6 are computed as batched matrix products of unfolded patches, which equal
the reference's convolution and transposed convolution exactly (the tests check both
against ``conv2d``/``conv_transpose2d`` and against a loop-by-loop reference).

Two deliberate differences from the TF code, both documented where they happen: the
mask is per image (the reference used the first image's mask for the whole batch), and
the softmax is a *masked* softmax (the reference multiplied the scores by the validity
mask, took the softmax, and multiplied again, which leaks probability mass onto the
masked patches so the weights over valid patches do not sum to one;
``legacy_masking=True`` reproduces it for comparison).

**Memory.** The score matrix has ``L_f * L_b`` entries per image, with
``L = H * W / r**2``: O((HW/r^2)^2). A 64 x 64 feature map at ``r = 2`` gives a
1024 x 1024 matrix (4 MiB in float32, times the ~6 copies the forward pass and autograd
keep); 128 x 128 gives 64 MiB per copy per image (about 0.4 GiB per image for a training
step) and 256 x 256 a full GiB per copy: the one-shot layer stops being practical past
about 128 x 128 features on a GPU, or smaller on a laptop. Use
:func:`attention_memory_bytes` to price a size. Past ``max_bytes`` (or with
``chunk_size``) the layer switches to a memory-aware path that handles a chunk of
foreground positions at a time per image, recomputing each chunk in the backward pass
(gradient checkpointing), so only ``chunk_size * L_b`` scores live at once.

Mask convention: ``mask`` marks the **hole of the background** with 1, like the rest of
the library. ``mask_downsample="nearest"`` (the default, the reference) samples it like
the features; ``"max"`` (used by :mod:`survey_lib.models.deepfill_v1`) guarantees that
no pasted pixel comes from the hole.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from survey_lib.data.checks import InputError

#: floor of a background patch's L2 norm (reference value): flat patches do not explode
NORM_FLOOR = 1e-4
#: every output pixel is covered by 2 x 2 of the 2r x 2r raw patches pasted at stride r
OVERLAP = 4.0
#: tensors of the size of one score matrix alive at the peak of forward + backward,
#: one-shot path (scores, fused copies, exponentials, attention and their gradients;
#: measured with ``benchmarks/bench_attention.py``: about 6 at 128 x 128, 64 channels)
ONE_SHOT_COPIES = 6
#: the same for the chunked path, in units of one chunk's (chunk x L_b) scores (it keeps
#: no scores between chunks and recomputes each one in the backward pass)
CHUNKED_COPIES = 6
#: above this estimated peak the layer chunks automatically (override per call)
DEFAULT_MAX_BYTES = 2 * 2**30

MaskDownsample = Literal["nearest", "max"]


# --------------------------------------------------------------------------- checks
def _check_features(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise InputError(f"{name} must have shape (B, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if min(x.shape) == 0:
        raise InputError(f"{name} is empty: shape {tuple(x.shape)}")
    return x


def _check_inputs(
    foreground: object, background: object, mask: object, rate: int, ksize: int, fuse_k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    fg = _check_features(foreground, "foreground")
    bg = _check_features(background, "background")
    for name, value in (("rate", rate), ("ksize", ksize), ("fuse_k", fuse_k)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InputError(f"{name} must be a positive int, got {value!r}")
    if ksize % 2 == 0 or fuse_k % 2 == 0:
        raise InputError(f"ksize and fuse_k must be odd (centred windows), got {ksize} and {fuse_k}")
    if fg.shape[:2] != bg.shape[:2]:
        raise InputError(
            f"foreground {tuple(fg.shape)} and background {tuple(bg.shape)} must share batch size "
            "and channel count"
        )
    for name, x in (("foreground", fg), ("background", bg)):
        h, w = x.shape[-2:]
        if h % rate or w % rate:
            raise InputError(f"{name} height and width must be divisible by rate={rate}, got {h}x{w}")
    if mask is None:
        return fg, bg, None
    if not isinstance(mask, torch.Tensor) or mask.ndim != 4 or mask.shape[1] != 1:
        got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise InputError(f"mask must have shape (B, 1, H, W) with 1 = hole, got {got}")
    if mask.shape[0] not in (1, bg.shape[0]) or mask.shape[-2:] != bg.shape[-2:]:
        raise InputError(
            f"mask of shape {tuple(mask.shape)} must match the background {tuple(bg.shape)}: "
            f"expected ({bg.shape[0]} or 1, 1, {bg.shape[2]}, {bg.shape[3]})"
        )
    if not ((mask == 0) | (mask == 1)).all():
        raise InputError("mask must be binary (0 and 1, 1 = hole); threshold it, e.g. (mask > 0.5).float()")
    return fg, bg, mask.to(bg.dtype).expand(bg.shape[0], -1, -1, -1)


# --------------------------------------------------------------------- the six steps
def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "SAME" padding (before, after) for one axis: ``ceil(size/stride)`` outputs."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def extract_raw_patches(background: torch.Tensor, rate: int) -> torch.Tensor:
    """Step 1: ``2r x 2r`` patches at stride ``r`` -> (B, L_b, C, 2r, 2r), row-major order."""
    b, c, h, w = background.shape
    kernel = 2 * rate
    top, bottom = same_padding(h, kernel, rate)
    left, right = same_padding(w, kernel, rate)
    padded = F.pad(background, (left, right, top, bottom))
    cols = F.unfold(padded, kernel, stride=rate)  # (B, C*k*k, L_b)
    return cols.transpose(1, 2).reshape(b, -1, c, kernel, kernel)


def downsample(x: torch.Tensor, rate: int) -> torch.Tensor:
    """Step 2: nearest-neighbour downsampling by ``rate`` (keeps every ``rate``-th pixel)."""
    return x[..., ::rate, ::rate]


def downsample_mask(mask: torch.Tensor, rate: int, mode: MaskDownsample = "nearest") -> torch.Tensor:
    """The hole at the matching resolution.

    ``"nearest"`` is the reference (same sampling as the features). ``"max"`` marks a
    low-resolution cell as hole if *any* of its pixels is: then a valid 3 x 3 patch
    guarantees that the raw 2r x 2r patch pasted back contains no hole pixel at all.
    """
    if mode == "nearest":
        return downsample(mask, rate)
    if mode == "max":
        return F.max_pool2d(mask, rate)
    raise InputError(f"mask_downsample must be 'nearest' or 'max', got {mode!r}")


def normalized_patches(background_small: torch.Tensor, ksize: int) -> torch.Tensor:
    """Step 3a: ``k x k`` patches of the downsampled background, L2-normalised.

    Returns (B, L_b, C*k*k); each row has unit norm unless its norm was below
    :data:`NORM_FLOOR` (then it is divided by the floor instead).
    """
    cols = F.unfold(background_small, ksize, padding=ksize // 2).transpose(1, 2)
    return cols / cols.norm(dim=2, keepdim=True).clamp_min(NORM_FLOOR)


def valid_patches(mask_small: torch.Tensor, ksize: int) -> torch.Tensor:
    """Step 5a: (B, L_b) bool, True where the ``k x k`` patch contains no hole pixel."""
    touched = F.unfold(mask_small, ksize, padding=ksize // 2).amax(dim=1)
    return touched == 0


def correlate(foreground_small: torch.Tensor, patches: torch.Tensor, ksize: int) -> torch.Tensor:
    """Step 3b: scores (B, L_f, L_b) of every foreground position against every patch.

    ``scores[b, i, j] = <k x k neighbourhood of foreground position i, patch j>``: exactly
    ``conv2d(foreground, patches as kernels, padding=k//2)`` of the reference, computed as
    one batched matrix product of the unfolded foreground with the patches.
    """
    cols = F.unfold(foreground_small, ksize, padding=ksize // 2)  # (B, C*k*k, L_f)
    return cols.transpose(1, 2) @ patches.transpose(1, 2)


def _diagonal_sum(matrix: torch.Tensor, fuse_k: int) -> torch.Tensor:
    """``out[..., p, q] = sum_d matrix[..., p + d, q + d]``, |d| <= fuse_k // 2, zero outside.

    Exactly a "SAME" convolution with a ``fuse_k x fuse_k`` identity kernel, written as a
    sum of shifted slices: a convolution routine would unfold the L x L matrix into
    ``fuse_k**2`` copies first.
    """
    pad = fuse_k // 2
    lf, lb = matrix.shape[-2:]
    padded = F.pad(matrix, (pad, pad, pad, pad))
    out = padded[..., pad : pad + lf, pad : pad + lb].clone()
    for d in range(-pad, pad + 1):
        if d:
            out = out + padded[..., pad + d : pad + d + lf, pad + d : pad + d + lb]
    return out


def fuse_scores(
    scores: torch.Tensor, fg_hw: tuple[int, int], bg_hw: tuple[int, int], fuse_k: int = 3
) -> torch.Tensor:
    """Step 4, literally: smooth (..., L_f, L_b) score matrices with an identity kernel twice.

    First with both axes flattened row-major (a diagonal step = one pixel right in both
    images), then with both flattened column-major (one pixel down in both).
    """
    (hf, wf), (hb, wb) = fg_hw, bg_hw
    lead = scores.shape[:-2]
    y = _diagonal_sum(scores.reshape(-1, hf * wf, hb * wb), fuse_k)
    y = y.reshape(-1, hf, wf, hb, wb).permute(0, 2, 1, 4, 3).reshape(-1, hf * wf, hb * wb)
    y = _diagonal_sum(y, fuse_k)
    y = y.reshape(-1, wf, hf, wb, hb).permute(0, 2, 1, 4, 3)
    return y.reshape(*lead, hf * wf, hb * wb)


def masked_softmax(
    scores: torch.Tensor, valid: torch.Tensor, scale: float, dim: int, legacy: bool = False
) -> torch.Tensor:
    """Step 5b: softmax of ``scale * scores`` over ``dim`` restricted to ``valid`` entries.

    ``valid`` is a bool tensor broadcastable to ``scores``. Invalid entries get exactly 0
    and the valid ones sum to 1; where nothing is valid the weights are all 0 (the output
    there is 0). ``legacy=True`` reproduces the reference's
    ``softmax(scale * scores * valid) * valid`` (masked patches still take probability mass).
    """
    v = valid.to(scores.dtype)
    if legacy:
        return torch.softmax(scale * scores * v, dim=dim) * v
    logits = (scale * scores).masked_fill(~valid, float("-inf"))
    peak = logits.amax(dim=dim, keepdim=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak)).detach()
    e = torch.exp(logits - peak)
    return e / e.sum(dim=dim, keepdim=True).clamp_min(torch.finfo(e.dtype).tiny)


def _fold_back(columns: torch.Tensor, fg_small_hw: tuple[int, int], rate: int) -> torch.Tensor:
    """(B, L_f, C*2r*2r) pasted patches, one per foreground position -> (B, C, rH', rW')."""
    h, w = fg_small_hw
    full = F.fold(columns.transpose(1, 2), ((h + 1) * rate, (w + 1) * rate), 2 * rate, stride=rate)
    top, _ = same_padding(h * rate, 2 * rate, rate)
    left, _ = same_padding(w * rate, 2 * rate, rate)
    return full[..., top : top + h * rate, left : left + w * rate] / OVERLAP


def paste_back(
    attention: torch.Tensor, raw_patches: torch.Tensor, fg_small_hw: tuple[int, int], rate: int
) -> torch.Tensor:
    """Step 6: paste the raw patches weighted by the attention, divide by the overlap (4).

    ``attention`` (B, L_f, L_b), ``raw_patches`` (B, L_b, C, 2r, 2r) -> (B, C, rH', rW').
    Each foreground position gets the weighted sum of the raw patches, placed at stride
    ``r`` (TF "SAME" alignment); this is exactly the reference's
    ``conv2d_transpose(attention map, raw patches as kernels, stride r) / 4``.
    """
    columns = attention @ raw_patches.flatten(2)  # (B, L_f, C*2r*2r)
    return _fold_back(columns, fg_small_hw, rate)


# ------------------------------------------------------------- the memory-aware path
def _flat_shift_maps(h: int, w: int, fuse_k: int, device: torch.device) -> torch.Tensor:
    """Where the two fuse passes read from, per position: (T, H*W) indices, -1 = zero pad.

    The fused score of (f, b) is a sum over T = fuse_k**2 (column-major shift e,
    row-major shift d) of the raw score at (map[t, f], map[t, b]); the maps of the two
    axes depend on their own grid only, which is what lets us chunk the foreground.
    """
    n = h * w
    pos = torch.arange(n, device=device)
    row, col = pos // w, pos % w
    colmajor = col * h + row
    offsets = range(-(fuse_k // 2), fuse_k // 2 + 1)
    maps = []
    for e in offsets:
        c = colmajor + e
        inside = (c >= 0) & (c < n)
        c = c.clamp(0, n - 1)
        rowmajor = (c % h) * w + c // h
        for d in offsets:
            r = rowmajor + d
            ok = inside & (r >= 0) & (r < n)
            maps.append(torch.where(ok, r, torch.full_like(r, -1)))
    return torch.stack(maps)


def _fused_chunk_scores(
    fg_cols: torch.Tensor, wn: torch.Tensor, rows: torch.Tensor, fg_maps: torch.Tensor | None,
    bg_maps: torch.Tensor | None,
) -> torch.Tensor:
    """Fused scores (n, L_b) of the foreground positions ``rows``.

    Without fuse: plain dot products. With fuse: the raw scores of every foreground
    position the fuse reads for this chunk (deduplicated: a consecutive chunk needs
    itself plus a thin halo) against all patches, then the ``fuse_k**2`` shifted
    gathers summed.
    """
    if fg_maps is None or bg_maps is None:
        return fg_cols[rows] @ wn.t()
    reads = fg_maps[:, rows]  # (T, n), -1 = zero padding
    needed, where = torch.unique(reads.clamp_min(0), return_inverse=True)
    raw = F.pad(fg_cols[needed] @ wn.t(), (0, 1, 0, 1))  # + a zero row and a zero column
    zero_row, zero_col = raw.shape[0] - 1, raw.shape[1] - 1
    fused = None
    for t in range(reads.shape[0]):
        r = torch.where(reads[t] >= 0, where[t], zero_row)
        c = torch.where(bg_maps[t] >= 0, bg_maps[t], zero_col)
        term = raw[r[:, None], c[None, :]]  # one gather; its backward keeps only the indices
        fused = term if fused is None else fused + term
    assert fused is not None
    return fused


def _chunk_step(
    fg_cols: torch.Tensor, wn: torch.Tensor, raw_flat: torch.Tensor, valid: torch.Tensor,
    rows: torch.Tensor, fg_maps: torch.Tensor | None, bg_maps: torch.Tensor | None,
    scale: float, legacy: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    scores = _fused_chunk_scores(fg_cols, wn, rows, fg_maps, bg_maps)
    att = masked_softmax(scores, valid[None, :].expand_as(scores), scale, dim=1, legacy=legacy)
    return att @ raw_flat, att


def _one_image_chunked(
    f_small: torch.Tensor, wn: torch.Tensor, raw: torch.Tensor, valid: torch.Tensor,
    ksize: int, fuse: bool, fuse_k: int, scale: float, rate: int, chunk_size: int,
    legacy: bool, keep_attention: bool, bg_small_hw: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    hf, wf = f_small.shape[-2:]
    lf = hf * wf
    fg_cols = F.unfold(f_small[None], ksize, padding=ksize // 2)[0].t()  # (L_f, C*k*k)
    fg_maps = _flat_shift_maps(hf, wf, fuse_k, fg_cols.device) if fuse else None
    bg_maps = _flat_shift_maps(*bg_small_hw, fuse_k, wn.device) if fuse else None
    raw_flat = raw.flatten(1)  # (L_b, C*2r*2r)
    use_checkpoint = torch.is_grad_enabled() and any(
        t.requires_grad for t in (fg_cols, wn, raw_flat)
    )
    columns, atts = [], []
    for start in range(0, lf, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, lf), device=fg_cols.device)
        args = (fg_cols, wn, raw_flat, valid, rows, fg_maps, bg_maps, scale, legacy)
        if use_checkpoint:
            cols, att = checkpoint(_chunk_step, *args, use_reentrant=False)
        else:
            cols, att = _chunk_step(*args)
        columns.append(cols)
        if keep_attention:
            atts.append(att)
    out = _fold_back(torch.cat(columns)[None], (hf, wf), rate)[0]
    att_map = torch.cat(atts).t().reshape(-1, hf, wf) if keep_attention else None
    return out, att_map


def _one_shot(
    f_small: torch.Tensor, wn: torch.Tensor, raw: torch.Tensor, valid: torch.Tensor,
    ksize: int, fuse: bool, fuse_k: int, scale: float, rate: int, legacy: bool,
    bg_small_hw: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole batch at once: (B, C, rH', rW') output and (B, L_f, L_b) attention."""
    hf, wf = f_small.shape[-2:]
    scores = correlate(f_small, wn, ksize)  # (B, L_f, L_b)
    if fuse:
        scores = fuse_scores(scores, (hf, wf), bg_small_hw, fuse_k)
    att = masked_softmax(scores, valid[:, None, :], scale, dim=2, legacy=legacy)
    return paste_back(att, raw, (hf, wf), rate), att


# ------------------------------------------------------------------ memory helpers
def score_matrix_bytes(
    height: int, width: int, rate: int = 2, batch: int = 1, dtype_bytes: int = 4,
    bg_height: int | None = None, bg_width: int | None = None,
) -> int:
    """Bytes of one (L_f x L_b) score matrix for ``batch`` images of an H x W feature map."""
    lf = (height // rate) * (width // rate)
    lb = ((bg_height or height) // rate) * ((bg_width or width) // rate)
    return batch * lf * lb * dtype_bytes


def attention_memory_bytes(
    height: int, width: int, rate: int = 2, batch: int = 1, dtype_bytes: int = 4,
    chunk_size: int | None = None, channels: int = 0, ksize: int = 3,
) -> int:
    """Estimated peak bytes of a forward + backward pass on an H x W feature map.

    Quadratic part, with ``L = H*W/r^2`` positions per image:
    one-shot ``ONE_SHOT_COPIES * B * L^2 * dtype_bytes``; chunked
    ``CHUNKED_COPIES * chunk_size * L * dtype_bytes`` (one image, one chunk at a time).
    With ``channels`` given, the linear part is added too: raw and matching patches of
    both maps and the pasted columns, each with its gradient,
    ``2 * B * 2L * C * (4r^2 + k^2) * dtype_bytes``. At 128 x 128 x 64 channels the
    estimate is within about 15 % of the measured peak (see the benchmark).
    """
    lf = (height // rate) * (width // rate)
    linear = 2 * batch * 2 * lf * channels * (4 * rate * rate + ksize * ksize) * dtype_bytes
    if chunk_size is None:
        return ONE_SHOT_COPIES * score_matrix_bytes(height, width, rate, batch, dtype_bytes) + linear
    return CHUNKED_COPIES * min(chunk_size, lf) * lf * dtype_bytes + linear


def auto_chunk_size(height: int, width: int, rate: int, batch: int, max_bytes: int,
                    dtype_bytes: int = 4) -> int | None:
    """``None`` (one shot) when it fits in ``max_bytes``, else the largest chunk that does."""
    if attention_memory_bytes(height, width, rate, batch, dtype_bytes) <= max_bytes:
        return None
    lb = (height // rate) * (width // rate)
    return max(1, min(lb, max_bytes // (CHUNKED_COPIES * lb * dtype_bytes)))


# ------------------------------------------------------------------- the operation
def contextual_attention(
    foreground: torch.Tensor,
    background: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    rate: int = 2,
    ksize: int = 3,
    fuse: bool = True,
    fuse_k: int = 3,
    softmax_scale: float = 10.0,
    mask_downsample: MaskDownsample = "nearest",
    return_attention: bool = False,
    chunk_size: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    legacy_masking: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Fill ``foreground`` by attending to patches of ``background`` (see the module doc).

    Args:
        foreground: (B, C, H, W) features to reconstruct; H, W divisible by ``rate``.
        background: (B, C, Hb, Wb) features to copy from (usually the same tensor).
        mask: (B or 1, 1, Hb, Wb), 1 = hole of the background; ``None`` = nothing masked.
        rate: downsampling for matching; pasted patches are ``2*rate`` wide.
        ksize: side of the matching patches (3 in the paper).
        fuse, fuse_k: the identity-kernel smoothing of the scores (on, 3, in the paper).
        softmax_scale: the softmax temperature's inverse (10 in the paper).
        mask_downsample: ``"nearest"`` (reference) or ``"max"`` (strict; see
            :func:`downsample_mask`).
        return_attention: also return the weights (B, L_b, H/r, W/r), L_b = Hb*Wb/r^2,
            background patches in row-major order; feed them to :func:`attention_offsets`.
        chunk_size: foreground positions per chunk on the memory-aware path; ``None``
            picks one-shot or a chunk size from ``max_bytes`` (:func:`auto_chunk_size`).
        legacy_masking: reproduce the reference's leaky multiply-softmax-multiply.

    Returns:
        (B, C, H, W) reconstruction, and the attention map if asked.
    """
    fg, bg, hole = _check_inputs(foreground, background, mask, rate, ksize, fuse_k)
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise InputError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    raw = extract_raw_patches(bg, rate)  # (B, L_b, C, 2r, 2r)
    f_small, b_small = downsample(fg, rate), downsample(bg, rate)
    bg_small_hw = (b_small.shape[-2], b_small.shape[-1])
    wn = normalized_patches(b_small, ksize)  # (B, L_b, C*k*k)
    if hole is None:
        valid = torch.ones(wn.shape[:2], dtype=torch.bool, device=wn.device)
    else:
        valid = valid_patches(downsample_mask(hole, rate, mask_downsample), ksize)
    if chunk_size is None:
        chunk_size = auto_chunk_size(
            fg.shape[-2], fg.shape[-1], rate, fg.shape[0], max_bytes, fg.element_size()
        )
    hf, wf = f_small.shape[-2:]
    if chunk_size is None:
        output, att = _one_shot(
            f_small, wn, raw, valid, ksize, fuse, fuse_k, softmax_scale, rate, legacy_masking,
            bg_small_hw,
        )
        if return_attention:
            return output, att.transpose(1, 2).reshape(att.shape[0], -1, hf, wf)
        return output
    outputs, atts = [], []
    for i in range(fg.shape[0]):  # one image (and one chunk of it) at a time
        out, att_i = _one_image_chunked(
            f_small[i], wn[i], raw[i], valid[i], ksize, fuse, fuse_k, softmax_scale, rate,
            chunk_size, legacy_masking, return_attention, bg_small_hw,
        )
        outputs.append(out)
        atts.append(att_i)
    if return_attention:
        return torch.stack(outputs), torch.stack(atts)  # type: ignore[arg-type]
    return torch.stack(outputs)


# --------------------------------------------------------------- reading the weights
def attention_offsets(
    attention: torch.Tensor, bg_size: tuple[int, int] | None = None, relative: bool = False
) -> torch.Tensor:
    """Where each position copies from: the argmax background patch, (B, 2, H', W').

    Channel 0 is the source row, channel 1 the source column, on the background's
    downsampled grid (multiply by ``rate`` for feature-map pixels). ``bg_size`` is that
    grid's (height, width), by default the attention map's own (self-attention).
    ``relative=True`` gives the displacement (source - position) instead: a flow field.
    Positions that attend to nothing (no valid patch) get NaN.
    """
    if not isinstance(attention, torch.Tensor) or attention.ndim != 4:
        raise InputError("attention must be a (B, L_b, H', W') tensor from return_attention=True")
    b, lb, h, w = attention.shape
    hb, wb = bg_size if bg_size is not None else (h, w)
    if hb * wb != lb:
        raise InputError(f"attention has {lb} background patches, but bg_size {hb}x{wb} gives {hb * wb}")
    idx = attention.argmax(dim=1)
    src = torch.stack([idx // wb, idx % wb], dim=1).to(torch.float32)
    if relative:
        rows = torch.arange(h, device=src.device, dtype=src.dtype).view(1, h, 1).expand(b, h, w)
        cols = torch.arange(w, device=src.device, dtype=src.dtype).view(1, 1, w).expand(b, h, w)
        src = src - torch.stack([rows, cols], dim=1)
    empty = (attention.sum(dim=1, keepdim=True) == 0).expand_as(src)
    return src.masked_fill(empty, float("nan"))


def offsets_to_rgb(flow: torch.Tensor, max_norm: float | None = None) -> torch.Tensor:
    """Colour-code a (B, 2, H, W) displacement field: hue = direction, brightness = length.

    The usual optical-flow colouring (DeepFill visualises its attention the same way);
    NaN (attends to nothing) is drawn black. Returns (B, 3, H, W) in [0, 1].
    """
    dy, dx = flow[:, 0], flow[:, 1]
    nan = torch.isnan(dy) | torch.isnan(dx)
    dy, dx = dy.nan_to_num(0.0), dx.nan_to_num(0.0)
    mag = torch.sqrt(dx**2 + dy**2)
    top = max_norm if max_norm is not None else float(mag.max().clamp_min(1e-6))
    hue = (torch.atan2(-dy, -dx) / math.pi + 1.0) / 2.0  # [0, 1]
    sat = (mag / top).clamp(0, 1)
    val = torch.ones_like(sat)
    rgb = _hsv_to_rgb(hue, sat, val)
    return rgb.masked_fill(nan.unsqueeze(1).expand_as(rgb), 0.0)


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.long() % 6
    r = torch.stack([v, q, p, p, t, v], 0).gather(0, i[None])[0]
    g = torch.stack([t, v, v, q, p, p], 0).gather(0, i[None])[0]
    b = torch.stack([p, p, t, v, v, q], 0).gather(0, i[None])[0]
    return torch.stack([r, g, b], dim=1)


class ContextualAttention(nn.Module):
    """:func:`contextual_attention` as a module (it has no parameters of its own).

    DeepFill v1 uses it as ``ContextualAttention(rate=2)(x, x, mask)`` on the 1/4
    resolution features of its refinement network.
    """

    def __init__(
        self, rate: int = 2, ksize: int = 3, fuse: bool = True, fuse_k: int = 3,
        softmax_scale: float = 10.0, mask_downsample: MaskDownsample = "nearest",
        chunk_size: int | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        super().__init__()
        self.rate, self.ksize, self.fuse, self.fuse_k = rate, ksize, fuse, fuse_k
        self.softmax_scale, self.mask_downsample = softmax_scale, mask_downsample
        self.chunk_size, self.max_bytes = chunk_size, max_bytes

    def forward(
        self, foreground: torch.Tensor, background: torch.Tensor, mask: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return contextual_attention(
            foreground, background, mask, rate=self.rate, ksize=self.ksize, fuse=self.fuse,
            fuse_k=self.fuse_k, softmax_scale=self.softmax_scale,
            mask_downsample=self.mask_downsample, return_attention=return_attention,
            chunk_size=self.chunk_size, max_bytes=self.max_bytes,
        )

    def extra_repr(self) -> str:
        return (f"rate={self.rate}, ksize={self.ksize}, fuse={self.fuse}, fuse_k={self.fuse_k}, "
                f"softmax_scale={self.softmax_scale}, mask_downsample={self.mask_downsample!r}")
