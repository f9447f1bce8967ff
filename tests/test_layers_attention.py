"""Contextual attention (DeepFill v1) and the transformer block: checked against
hand-written loop references, invariants and a copy experiment."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from survey_lib.data.checks import InputError
from survey_lib.layers.contextual_attention import (
    CHUNKED_COPIES,
    NORM_FLOOR,
    ONE_SHOT_COPIES,
    ContextualAttention,
    attention_memory_bytes,
    attention_offsets,
    auto_chunk_size,
    contextual_attention,
    correlate,
    extract_raw_patches,
    fuse_scores,
    normalized_patches,
    offsets_to_rgb,
    paste_back,
    score_matrix_bytes,
)
from survey_lib.layers.transformer import (
    LearnedPositionalEmbedding,
    TransformerBlock,
    token_key_mask,
    update_key_mask,
)


# ----------------------------------------------------------------- a naive reference
def _px(img: np.ndarray, y: int, x: int) -> np.ndarray:
    """Pixel (C,) of a (C, H, W) array, zero outside (zero padding)."""
    if 0 <= y < img.shape[1] and 0 <= x < img.shape[2]:
        return img[:, y, x]
    return np.zeros(img.shape[0])


def _diag_sum(s: np.ndarray, k: int) -> np.ndarray:
    """out[p, q] = sum_d s[p+d, q+d] over |d| <= k//2, entries outside the matrix = 0."""
    out = np.zeros_like(s)
    lf, lb = s.shape
    for p in range(lf):
        for q in range(lb):
            for d in range(-(k // 2), k // 2 + 1):
                if 0 <= p + d < lf and 0 <= q + d < lb:
                    out[p, q] += s[p + d, q + d]
    return out


def _naive_fuse(s: np.ndarray, fg_hw: tuple[int, int], bg_hw: tuple[int, int], k: int = 3) -> np.ndarray:
    """The reference's fuse, spelled out: diagonal sums in row-major, then column-major order."""
    (hf, wf), (hb, wb) = fg_hw, bg_hw

    def colmajor(i: int, h: int, w: int) -> int:
        y, x = divmod(i, w)
        return x * h + y

    t1 = _diag_sum(s, k)
    m = np.zeros_like(t1)
    for p in range(t1.shape[0]):
        for q in range(t1.shape[1]):
            m[colmajor(p, hf, wf), colmajor(q, hb, wb)] = t1[p, q]
    t2 = _diag_sum(m, k)
    out = np.zeros_like(s)
    for p in range(s.shape[0]):
        for q in range(s.shape[1]):
            out[p, q] = t2[colmajor(p, hf, wf), colmajor(q, hb, wb)]
    return out


def naive_contextual_attention(f, b, mask, rate, fuse, scale=10.0):
    """One image, float64, every step as a loop: (C,H,W), (C,Hb,Wb), (1,Hb,Wb)|None."""
    f, b = f.double().numpy(), b.double().numpy()
    c, h, w = f.shape
    fs, bs = f[:, ::rate, ::rate], b[:, ::rate, ::rate]
    hf, wf = fs.shape[1:]
    hb, wb = bs.shape[1:]
    offs = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    patches = []
    for v in range(hb):
        for u in range(wb):
            p = np.concatenate([_px(bs, v + dy, u + dx) for dy, dx in offs])
            patches.append(p / max(np.linalg.norm(p), NORM_FLOOR))
    s = np.zeros((hf * wf, hb * wb))
    for y in range(hf):
        for x in range(wf):
            fp = np.concatenate([_px(fs, y + dy, x + dx) for dy, dx in offs])
            for q, p in enumerate(patches):
                s[y * wf + x, q] = fp @ p
    if fuse:
        s = _naive_fuse(s, (hf, wf), (hb, wb))
    valid = np.ones(hb * wb, dtype=bool)
    if mask is not None:
        ms = mask.double().numpy()[:, ::rate, ::rate]
        for v in range(hb):
            for u in range(wb):
                valid[v * wb + u] = all(_px(ms, v + dy, u + dx)[0] == 0 for dy, dx in offs)
    att = np.zeros_like(s)
    for p in range(s.shape[0]):
        if valid.any():
            e = np.where(valid, np.exp(scale * (s[p] - s[p][valid].max())), 0.0)
            att[p] = e / e.sum()
    out = np.zeros((c, h, w))
    top = rate // 2
    for y in range(hf):
        for x in range(wf):
            for q in range(hb * wb):
                v, u = divmod(q, wb)
                for i in range(2 * rate):
                    for j in range(2 * rate):
                        yy, xx = y * rate - top + i, x * rate - top + j
                        if 0 <= yy < h and 0 <= xx < w:
                            out[:, yy, xx] += att[y * wf + x, q] * _px(b, v * rate - top + i, u * rate - top + j)
    return out / 4.0, att.T.reshape(hb * wb, hf, wf)


@pytest.mark.parametrize(
    "fg_hw,bg_hw,rate,fuse",
    [((8, 8), (8, 8), 2, True), ((8, 12), (8, 12), 2, False), ((6, 4), (4, 6), 2, True),
     ((4, 4), (4, 4), 1, True), ((12, 8), (12, 8), 4, True)],
)
def test_matches_naive_loop_reference(fg_hw, bg_hw, rate, fuse):
    g = torch.Generator().manual_seed(3)
    f = torch.randn(2, 2, *fg_hw, generator=g)
    b = torch.randn(2, 2, *bg_hw, generator=g)
    mask = torch.zeros(2, 1, *bg_hw)
    mask[0, :, : bg_hw[0] // 2, : bg_hw[1] // 2] = 1
    mask[1, :, -2:, -3:] = 1
    out, att = contextual_attention(f, b, mask, rate=rate, fuse=fuse, return_attention=True)
    for i in range(2):
        ref_out, ref_att = naive_contextual_attention(f[i], b[i], mask[i], rate, fuse)
        np.testing.assert_allclose(att[i].double().numpy(), ref_att, atol=1e-5)
        np.testing.assert_allclose(out[i].double().numpy(), ref_out, atol=1e-5)


def test_fuse_equals_explicit_flat_computation():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(3 * 4, 2 * 5, generator=g, dtype=torch.float64)
    got = fuse_scores(s, (3, 4), (2, 5)).numpy()
    np.testing.assert_allclose(got, _naive_fuse(s.numpy(), (3, 4), (2, 5)), atol=1e-12)


def test_fuse_sums_coherent_2d_neighbours_away_from_row_ends():
    """Away from the flattening wrap, fused(f, b) = sum over 3x3 shifts t of S(f + t, b + t):
    a match scores high when its neighbours match the same way."""
    g = torch.Generator().manual_seed(1)
    hf, wf, hb, wb = 5, 6, 6, 5
    s = torch.randn(hf * wf, hb * wb, generator=g, dtype=torch.float64)
    fused = fuse_scores(s, (hf, wf), (hb, wb))
    s4 = s.reshape(hf, wf, hb, wb)
    for (y, x), (v, u) in [((2, 2), (3, 2)), ((1, 3), (2, 1)), ((3, 4), (4, 3))]:
        expected = sum(s4[y + dy, x + dx, v + dy, u + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        assert fused[y * wf + x, v * wb + u].item() == pytest.approx(expected.item(), abs=1e-12)


@pytest.mark.parametrize("rate", [1, 2, 3])
def test_matmul_forms_equal_the_reference_convolutions(rate):
    """Step 3 is the reference's conv2d with the normalised patches as kernels, step 6 its
    conv2d_transpose with the raw patches as kernels (TF "SAME" crop) divided by 4."""
    g = torch.Generator().manual_seed(8)
    f = torch.randn(2, 3, 4 * rate, 5 * rate, generator=g, dtype=torch.float64)
    fs = f[..., ::rate, ::rate]
    wn = normalized_patches(fs, 3)
    scores = correlate(fs, wn, 3)
    raw = extract_raw_patches(f, rate)
    att = torch.rand(2, 20, 20, generator=g, dtype=torch.float64)
    pasted = paste_back(att, raw, (4, 5), rate)
    top = rate // 2
    for i in range(2):
        conv = torch.nn.functional.conv2d(fs[i : i + 1], wn[i].reshape(20, 3, 3, 3), padding=1)
        torch.testing.assert_close(scores[i].t().reshape(1, 20, 4, 5), conv)
        amap = att[i].t().reshape(1, 20, 4, 5)
        full = torch.nn.functional.conv_transpose2d(amap, raw[i], stride=rate)
        torch.testing.assert_close(pasted[i : i + 1], full[..., top : top + 4 * rate, top : top + 5 * rate] / 4)


def test_shapes_and_module():
    f = torch.randn(3, 4, 16, 12)
    out, att = ContextualAttention(rate=2)(f, f, None, return_attention=True)
    assert out.shape == f.shape and att.shape == (3, 8 * 6, 8, 6)
    b = torch.randn(3, 4, 8, 8)
    out2, att2 = contextual_attention(f, b, return_attention=True)
    assert out2.shape == f.shape and att2.shape == (3, 16, 8, 6)


def _touches_hole(mask_small: torch.Tensor) -> torch.Tensor:
    """(L,) True where the 3x3 neighbourhood of a low-res cell holds a hole, by loops."""
    h, w = mask_small.shape
    out = torch.zeros(h * w, dtype=torch.bool)
    for v in range(h):
        for u in range(w):
            out[v * w + u] = bool(mask_small[max(v - 1, 0) : v + 2, max(u - 1, 0) : u + 2].any())
    return out


def test_weights_sum_to_one_and_are_exactly_zero_on_patches_touching_the_hole():
    g = torch.Generator().manual_seed(5)
    f = torch.randn(2, 3, 16, 16, generator=g)
    mask = torch.zeros(2, 1, 16, 16)
    mask[0, :, 4:10, 6:12] = 1
    mask[1, :, 10:16, 0:5] = 1
    _, att = contextual_attention(f, f, mask, return_attention=True)
    for i in range(2):
        bad = _touches_hole(mask[i, 0, ::2, ::2])
        assert bad.any() and (~bad).any()
        assert (att[i][bad] == 0).all()
        torch.testing.assert_close(att[i][~bad].sum(0), torch.ones(8, 8))


def test_max_mask_downsampling_never_pastes_a_hole_pixel():
    """With mask_downsample='max', every patch with weight > 0 has no hole pixel at all in
    the raw 2r x 2r region it pastes (checked pixel by pixel), even for a 1-pixel hole
    that nearest downsampling would miss."""
    f = torch.randn(1, 2, 16, 16, generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(1, 1, 16, 16)
    mask[0, 0, 7, 5] = 1  # odd row and column: invisible to ::2 sampling
    _, att_nearest = contextual_attention(f, f, mask, return_attention=True)
    _, att = contextual_attention(f, f, mask, mask_downsample="max", return_attention=True)
    rate, top = 2, 1
    covers_hole = torch.zeros(64, dtype=torch.bool)
    for q in range(64):
        v, u = divmod(q, 8)
        rows = range(v * rate - top, v * rate - top + 2 * rate)
        cols = range(u * rate - top, u * rate - top + 2 * rate)
        covers_hole[q] = any(0 <= r < 16 and 0 <= c < 16 and mask[0, 0, r, c] == 1 for r in rows for c in cols)
    assert (att[0][covers_hole] == 0).all()
    assert (att_nearest[0][covers_hole] > 0).any()  # the reference's sampling misses it


def test_copy_from_a_periodic_texture_reproduces_the_hole():
    """Feature map = the image: a random periodic texture whose hole content exists
    elsewhere exactly. Attention must find it and paste it back (high PSNR), copying
    only from known pixels (the background has its hole blanked to 0)."""
    g = torch.Generator().manual_seed(7)
    tile = (torch.rand(3, 8, 8, generator=g) > 0.5).float()
    image = tile.repeat(1, 6, 6)[None]  # (1, 3, 48, 48), period 8
    mask = torch.zeros(1, 1, 48, 48)
    mask[..., 18:30, 16:32] = 1
    background = image * (1 - mask)
    out = contextual_attention(image, background, mask)
    err = ((out - image) ** 2)[mask.expand_as(image) == 1].mean()
    psnr = 10 * math.log10(1.0 / max(err.item(), 1e-12))
    assert psnr > 35.0, psnr
    # copies come from known pixels only: whatever the background holds in its hole
    # (0 or 7), the result is the same with the strict mask downsampling
    a = contextual_attention(image, background, mask, mask_downsample="max")
    b = contextual_attention(image, background + 7.0 * mask, mask, mask_downsample="max")
    torch.testing.assert_close(a, b)
    assert ((a - image) ** 2)[mask.expand_as(image) == 1].mean() < 1e-3


def test_chunked_path_equals_one_shot_values_and_gradients():
    g = torch.Generator().manual_seed(11)  # float64: the scale-10 softmax amplifies rounding
    f = torch.randn(2, 3, 12, 16, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 3, 12, 16, generator=g, dtype=torch.float64, requires_grad=True)
    mask = torch.zeros(2, 1, 12, 16, dtype=torch.float64)
    mask[:, :, 3:8, 4:9] = 1
    w = torch.randn(2, 3, 12, 16, generator=g, dtype=torch.float64)
    results = []
    for chunk in (None, 5, 1000):
        out, att = contextual_attention(f, b, mask, chunk_size=chunk, return_attention=True)
        gf, gb = torch.autograd.grad((out * w).sum(), (f, b))
        results.append((out, att, gf, gb))
    for other in results[1:]:
        for a, c in zip(results[0], other):
            torch.testing.assert_close(a, c, atol=1e-9, rtol=1e-9)
    # the automatic switch takes the chunked path under a tiny budget and gives the same
    tiny = contextual_attention(f, b, mask, max_bytes=1)
    torch.testing.assert_close(tiny, results[0][0], atol=1e-9, rtol=1e-9)


def test_legacy_masking_leaks_mass_but_renormalises_to_ours():
    f = 0.02 * torch.randn(1, 2, 16, 16, generator=torch.Generator().manual_seed(4))
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:8, 6:10] = 1
    _, ours = contextual_attention(f, f, mask, return_attention=True)
    _, legacy = contextual_attention(f, f, mask, return_attention=True, legacy_masking=True)
    sums = legacy.sum(1)
    assert (sums < 1 - 1e-3).all()
    torch.testing.assert_close(legacy / sums[:, None], ours, atol=1e-5, rtol=1e-5)


def test_attention_offsets_and_colours():
    att = torch.zeros(1, 12, 3, 4)  # background grid 3x4 = 12 patches
    att[0, 7, 0, 0] = 1.0  # position (0,0) copies from patch 7 = (1, 3)
    att[0, 0, 2, 3] = 1.0  # position (2,3) copies from (0, 0)
    off = attention_offsets(att)
    assert off[0, :, 0, 0].tolist() == [1.0, 3.0]
    assert off[0, :, 2, 3].tolist() == [0.0, 0.0]
    assert torch.isnan(off[0, 0, 1, 1])  # attends to nothing
    rel = attention_offsets(att, relative=True)
    assert rel[0, :, 0, 0].tolist() == [1.0, 3.0] and rel[0, :, 2, 3].tolist() == [-2.0, -3.0]
    rgb = offsets_to_rgb(rel)
    assert rgb.shape == (1, 3, 3, 4) and rgb.min() >= 0 and rgb.max() <= 1
    assert (rgb[0, :, 1, 1] == 0).all()
    with pytest.raises(InputError, match="bg_size"):
        attention_offsets(att, bg_size=(5, 5))


def test_memory_formula_and_auto_chunk():
    assert score_matrix_bytes(64, 64, rate=2) == (32 * 32) ** 2 * 4
    assert attention_memory_bytes(64, 64, 2, batch=2) == ONE_SHOT_COPIES * 2 * 1024**2 * 4
    assert attention_memory_bytes(64, 64, 2, chunk_size=128) == CHUNKED_COPIES * 128 * 1024 * 4
    linear = 2 * 2 * 1024 * 8 * (16 + 9) * 4  # 8 channels: patches + columns, with gradients
    assert attention_memory_bytes(64, 64, 2, channels=8) == ONE_SHOT_COPIES * 1024**2 * 4 + linear
    assert auto_chunk_size(16, 16, 2, 1, max_bytes=2**30) is None
    chunk = auto_chunk_size(128, 128, 2, 1, max_bytes=64 * 2**20)
    assert chunk is not None and attention_memory_bytes(128, 128, 2, chunk_size=chunk) <= 64 * 2**20


def test_bad_inputs_raise_input_error():
    f = torch.randn(1, 2, 8, 8)
    with pytest.raises(InputError, match="divisible by rate"):
        contextual_attention(torch.randn(1, 2, 9, 8), torch.randn(1, 2, 9, 8))
    with pytest.raises(InputError, match="mask"):
        contextual_attention(f, f, torch.zeros(1, 8, 8))
    with pytest.raises(InputError, match="binary"):
        contextual_attention(f, f, torch.full((1, 1, 8, 8), 0.5))
    with pytest.raises(InputError, match="share batch size"):
        contextual_attention(f, torch.randn(1, 3, 8, 8))
    with pytest.raises(InputError, match="odd"):
        contextual_attention(f, f, ksize=2)


# ------------------------------------------------------------------------ transformer
def test_block_shapes_and_sdpa_matches_returned_weights():
    torch.manual_seed(0)
    block = TransformerBlock(16, heads=4).eval()
    x = torch.randn(2, 10, 16)
    key_mask = torch.zeros(2, 10, dtype=torch.bool)
    key_mask[0, :4] = True
    y, w = block(x, key_mask, return_attention=True)
    assert y.shape == x.shape and w.shape == (2, 4, 10, 10)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 10))
    # rebuild the attention output from the returned weights: SDPA computed the same
    attn = block.attn
    h = block.norm1(x)
    _, _, v = attn.qkv(h).reshape(2, 10, 3, 4, 4).permute(2, 0, 3, 1, 4)
    manual = attn.proj((w @ v).transpose(1, 2).reshape(2, 10, 16))
    expected = x + manual
    expected = expected + block.mlp(block.norm2(expected))
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=1e-5)


def test_key_mask_blocks_attention_and_gradients_to_masked_tokens():
    torch.manual_seed(1)
    block = TransformerBlock(8, heads=2).eval()
    x = torch.randn(1, 6, 8, requires_grad=True)
    key_mask = torch.tensor([[False, True, False, True, False, False]])
    y, w = block(x, key_mask, return_attention=True)
    assert (w[..., key_mask[0]] == 0).all()
    # other tokens' outputs do not depend on the masked tokens at all
    others = [0, 2, 4, 5]
    (grad,) = torch.autograd.grad(y[0, others].sum(), x)
    assert (grad[0, 1] == 0).all() and (grad[0, 3] == 0).all()
    assert (grad[0, 0] != 0).any()
    # without the key mask they do
    (grad_free,) = torch.autograd.grad(block(x)[0, others].sum(), x)
    assert (grad_free[0, 1] != 0).any()


def test_all_masked_keys_fall_back_to_full_attention():
    block = TransformerBlock(8, heads=2)
    x = torch.randn(1, 5, 8)
    y = block(x, torch.ones(1, 5, dtype=torch.bool))
    torch.testing.assert_close(y, block(x))
    with pytest.raises(InputError, match="key_mask"):
        block(x, torch.ones(1, 4, dtype=torch.bool))


def test_token_key_mask_and_mask_update():
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :] = 1  # top half hole
    mask[..., 4:6, 0:2] = 1  # part of one bottom-left token
    km = token_key_mask(mask, 4)
    assert km.tolist() == [[True, True, False, False]]
    assert not update_key_mask(km).any()
    assert update_key_mask(torch.ones(1, 3, dtype=torch.bool)).all()


def test_positional_embedding_is_resized_to_the_grid():
    pos = LearnedPositionalEmbedding(6, grid=4)
    assert pos(4, 4).shape == (1, 16, 6)
    torch.testing.assert_close(pos(4, 4), pos.weight.flatten(2).transpose(1, 2))
    assert pos(8, 2).shape == (1, 16, 6)
