"""Classical (non-learned) inpainting: the numbers every deep method must beat.

Two families, both from before deep learning:

* **Diffusion-based** methods propagate known values smoothly into the hole. They are
  excellent on thin scratches and small holes, and blur large ones:
  :class:`Telea` (fast marching, Telea 2004) and :class:`NavierStokes` (fluid-dynamics
  transport of isophotes, Bertalmío et al. 2001), both from OpenCV, and
  :class:`Biharmonic` (smooth biharmonic interpolation, scikit-image; exact on linear
  ramps).
* **Exemplar-based** methods copy whole patches from the known region, so they recreate
  texture: :class:`Exemplar` is our implementation of Criminisi, Pérez & Toyama (2004),
  the patch-copying idea that contextual attention later learned to imitate.

Each class follows the method interface of :mod:`survey_lib.inpaint`: a ``name`` and
``__call__(image, mask) -> prediction`` on float32 (B, C, H, W) batches in [0, 1] with
masks (B, 1, H, W), 1 = hole. They run on the CPU image by image; the known pixels of
the returned prediction are exactly the input's.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from survey_lib.data.checks import InputError, check_pair


def _to_numpy(image: torch.Tensor, mask: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) image and (1, H, W) mask tensors -> (H, W, C) float64 and (H, W) bool hole."""
    return image.detach().cpu().double().permute(1, 2, 0).numpy(), mask[0].detach().cpu().numpy() > 0.5


class _Baseline:
    """Shared batch loop: validate, run :meth:`fill` per image, keep known pixels exact."""

    name = "baseline"

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:  # pragma: no cover
        """Return the (H, W, C) float image with ``hole`` (H, W bool) filled."""
        raise NotImplementedError

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        image, mask = check_pair(image, mask)
        out = torch.empty_like(image)
        for i in range(len(image)):
            img, hole = _to_numpy(image[i], mask[i])
            filled = np.clip(self.fill(img, hole), 0.0, 1.0)
            filled = np.where(hole[..., None], filled, img)  # known pixels: exactly the input
            out[i] = torch.from_numpy(filled).permute(2, 0, 1).to(image.device, torch.float32)
        return out

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


class _OpenCVInpaint(_Baseline):
    flag = cv2.INPAINT_TELEA

    def __init__(self, radius: int = 3) -> None:
        if not isinstance(radius, int) or isinstance(radius, bool) or radius < 1:
            raise InputError(f"radius must be a positive int (pixels), got {radius!r}")
        self.radius = radius

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        # OpenCV wants 8-bit images (1 or 3 channels) and an 8-bit one-channel mask,
        # non-zero = fill; a float mask is rejected.
        src = np.round(image * 255.0).clip(0, 255).astype(np.uint8)
        src = src[..., 0] if src.shape[-1] == 1 else np.ascontiguousarray(src)
        out = cv2.inpaint(src, hole.astype(np.uint8) * 255, self.radius, self.flag)
        out = out.astype(np.float64) / 255.0
        return out[..., None] if out.ndim == 2 else out


class Telea(_OpenCVInpaint):
    """Fast-marching inpainting (Telea 2004) via ``cv2.inpaint(..., cv2.INPAINT_TELEA)``.

    Fills the hole from its border inwards, each pixel a weighted average of known
    neighbours within ``radius``. Output is quantised to 8 bits (OpenCV's format); even
    a constant image comes back within ±2 grey levels, not exactly.
    """

    name = "telea"
    flag = cv2.INPAINT_TELEA


class NavierStokes(_OpenCVInpaint):
    """Navier–Stokes inpainting (Bertalmío et al. 2001) via ``cv2.INPAINT_NS``.

    Continues image isophotes (lines of equal intensity) into the hole like a fluid's
    stream lines. Output is quantised to 8 bits.
    """

    name = "navier_stokes"
    flag = cv2.INPAINT_NS


class Biharmonic(_Baseline):
    """Biharmonic inpainting (``skimage.restoration.inpaint_biharmonic``).

    The fill solves Δ²u = 0 with the known pixels as boundary values: the smoothest
    surface through the border. Exact on linear ramps, strong on thin masks, slow on
    big holes (one sparse linear system per connected hole region).
    """

    name = "biharmonic"

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        from skimage.restoration import inpaint_biharmonic

        if image.shape[-1] == 1:
            return inpaint_biharmonic(image[..., 0], hole)[..., None]
        return inpaint_biharmonic(image, hole, channel_axis=-1)


class Exemplar(_Baseline):
    """Exemplar-based inpainting (Criminisi, Pérez & Toyama 2004), written for this library.

    Repeat until the hole is filled:

    1. the *fill front* is the set of hole pixels touching known pixels;
    2. each front pixel p gets a priority ``P(p) = C(p) · D(p)``: the *confidence*
       C(p) is the mean confidence of the known pixels of its patch (known pixels start
       at 1, filled ones inherit the confidence of the patch that filled them), the
       *data term* D(p) = |∇I⊥ · n| is the strength of the isophote hitting the front
       (n the front's normal), so linear structures are continued first;
    3. the patch around the highest-priority pixel is matched against every fully
       known source patch by the sum of squared differences over its *known* pixels;
    4. only its unknown pixels are copied from the best match, and their confidence set.

    Cost: the search is one matrix product over all source patches per step (vectorised
    with NumPy): well under 0.1 s for a 64×64 image with a 20 % hole, ~0.3 s at 128×128,
    a few seconds at 256×256 (measured on one core). To keep big images
    tractable the number of candidate source patches is capped at ``max_sources``: beyond
    it, candidates are taken on a regular grid (stride chosen to meet the cap), which
    trades match quality for time. ``patch_size=None`` picks the patch side from the
    image size (:meth:`auto_patch_size`: 5 at 32 px, 7 at 64 px, 9 from 90 px). When no
    fully known patch exists, the patch size is halved down to 3; if even that fails,
    the hole is filled with the mean known colour.
    """

    name = "exemplar"

    def __init__(self, patch_size: int | None = None, max_sources: int = 6000) -> None:
        if patch_size is not None and (
            not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 3 or patch_size % 2 == 0
        ):
            raise InputError(f"patch_size must be None (automatic) or an odd int >= 3, got {patch_size!r}")
        if not isinstance(max_sources, int) or isinstance(max_sources, bool) or max_sources < 1:
            raise InputError(f"max_sources must be a positive int, got {max_sources!r}")
        self.patch_size = patch_size
        self.max_sources = max_sources

    @staticmethod
    def auto_patch_size(height: int, width: int) -> int:
        """Patch side used when ``patch_size`` is None: about a tenth of the image, odd, 5 to 9.

        Criminisi et al. used 9×9 on photos of a few hundred pixels; on this course's
        32–64 px images a 9×9 patch is a quarter of the picture and few fully known
        candidates exist, so smaller images get smaller patches (5 at 32 px, 7 at 64 px).
        """
        return max(5, min(9, (min(height, width) // 10) | 1))

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        first = self.patch_size or self.auto_patch_size(*hole.shape)
        sizes, size = [], first
        while size > 3:  # e.g. 9 -> 5 -> 3: smaller patches when no big one is fully known
            sizes.append(size)
            size = max(3, (size // 2) | 1)
        for size in [*sizes, 3]:
            if min(hole.shape) >= size:
                sources = self._source_centres(hole, size)
                if len(sources[0]):
                    return self._fill_with(image, hole, size, sources)
        return MeanFill().fill(image, hole)

    def _source_centres(self, hole: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Centres (rows, cols) of patches lying inside the image and fully known."""
        half = size // 2
        holes_in_patch = sliding_window_view(hole, (size, size)).any(axis=(2, 3))
        rows, cols = np.nonzero(~holes_in_patch)
        if len(rows) > self.max_sources:  # regular sub-grid keeps the search affordable
            stride = int(np.ceil(np.sqrt(len(rows) / self.max_sources)))
            keep = (rows % stride == 0) & (cols % stride == 0)
            rows, cols = rows[keep], cols[keep]
        return rows + half, cols + half

    def _fill_with(
        self, image: np.ndarray, hole: np.ndarray, size: int, sources: tuple[np.ndarray, np.ndarray]
    ) -> np.ndarray:
        h, w, c = image.shape
        half = size // 2
        pad = ((half, half), (half, half))
        # Padded working arrays: padding is neither known nor to be filled.
        img = np.pad(image, (*pad, (0, 0)))
        known = np.pad(~hole, pad)
        todo = np.pad(hole, pad)
        conf = known.astype(np.float64)
        inside = np.pad(np.ones((h, w), bool), pad)
        area = sliding_window_view(inside.astype(np.float64), (size, size)).sum(axis=(2, 3))

        src_r, src_c = sources[0] + half, sources[1] + half  # padded coordinates
        windows = sliding_window_view(img, (size, size), axis=(0, 1))  # (H', W', C, p, p)
        src = windows[src_r - half, src_c - half].reshape(len(src_r), -1)  # (N, C*p*p)
        src_sq = src * src

        while todo.any():
            front = todo & ndimage.binary_dilation(known, structure=np.ones((3, 3), bool))
            fr, fc = np.nonzero(front)
            # confidence term: mean confidence over the in-image part of each front patch
            conf_win = sliding_window_view(conf, (size, size))[fr - half, fc - half]
            c_term = conf_win.sum(axis=(1, 2)) / area[fr - half, fc - half]
            d_term = self._data_term(img, known, fr, fc, size)
            best = int(np.argmax(c_term * d_term))
            r, q = fr[best], fc[best]
            sl = (slice(r - half, r + half + 1), slice(q - half, q + half + 1))
            weight = np.broadcast_to(known[sl], (c, size, size)).reshape(-1).astype(np.float64)
            target = img[sl].transpose(2, 0, 1).reshape(-1) * weight
            # SSD over the target's known pixels for every source: w·S² - 2 (w t)·S + const
            ssd = src_sq @ weight - 2.0 * (src @ target)
            k = int(np.argmin(ssd))
            patch = windows[src_r[k] - half, src_c[k] - half].transpose(1, 2, 0)  # (p, p, C)
            fill = todo[sl]
            img[sl][fill] = patch[fill]
            conf[sl][fill] = c_term[best]
            known[sl] |= fill
            todo[sl] &= ~fill
        return img[half : half + h, half : half + w]

    @staticmethod
    def _data_term(img: np.ndarray, known: np.ndarray, fr: np.ndarray, fc: np.ndarray, size: int) -> np.ndarray:
        """|isophote · normal| at each front pixel (plus a floor so confidence still ranks)."""
        half = size // 2
        grey = img.mean(axis=2)
        gy, gx = np.gradient(grey)
        # a gradient touching an unknown pixel is meaningless: zero it
        valid = known & ndimage.binary_erosion(known, structure=np.ones((3, 3), bool), border_value=0)
        gy, gx = np.where(valid, gy, 0.0), np.where(valid, gx, 0.0)
        # strongest isophote within each front patch
        mag = sliding_window_view(gx * gx + gy * gy, (size, size))[fr - half, fc - half].reshape(len(fr), -1)
        idx = np.argmax(mag, axis=1)
        dr, dc = idx // size - half, idx % size - half
        iso_y, iso_x = gx[fr + dr, fc + dc], -gy[fr + dr, fc + dc]  # ∇I rotated by 90°
        ny, nx = np.gradient(known.astype(np.float64))
        ny, nx = ny[fr, fc], nx[fr, fc]
        norm = np.hypot(ny, nx) + 1e-8
        return np.abs(iso_y * ny / norm + iso_x * nx / norm) + 1e-3


class MeanFill(_Baseline):
    """The floor, not a method: fill the hole with the mean colour of the known pixels.

    Used as a reference line: a method is only "strong" on a mask type if it beats
    this by a clear margin there. Not in :data:`BASELINES`.
    """

    name = "mean_fill"

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        out = image.copy()
        out[hole] = image[~hole].mean(0)
        return out


#: every classical baseline by its ``name``
BASELINES: dict[str, type[_Baseline]] = {
    cls.name: cls for cls in (Telea, NavierStokes, Biharmonic, Exemplar)
}

__all__ = ["BASELINES", "Biharmonic", "Exemplar", "MeanFill", "NavierStokes", "Telea"]
