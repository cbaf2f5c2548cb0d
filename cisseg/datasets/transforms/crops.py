"""The crops that the MiB / DKD / STAR code trains and evaluates with."""
import math
from typing import Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS
from cisseg.utils import check_choice


BACKENDS = ('cv2', 'pillow')


def _resize(arr: np.ndarray, size: Tuple[int, int], interpolation: str,
            backend: str) -> np.ndarray:
    """``mmcv.imresize`` to ``size`` (w, h); with ``backend='pillow'`` a
    label map of a wider integer type goes through PIL as uint8 (or int32)
    and comes back in its own type."""
    if backend == 'cv2' or arr.dtype == np.uint8 or arr.ndim == 3:
        return mmcv.imresize(arr, size, interpolation=interpolation,
                             backend=backend)
    as_type = np.uint8 if arr.min() >= 0 and arr.max() <= 255 else np.int32
    out = mmcv.imresize(arr.astype(as_type), size,
                        interpolation=interpolation, backend=backend)
    return out.astype(arr.dtype)


def _pair(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """(h, w) from an int or an (h, w) pair."""
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


@TRANSFORMS.register_module()
class RandomResizedCrop(BaseTransform):
    """Crop a window of random area and aspect ratio, resize it to ``size``.

    torchvision's ``RandomResizedCrop`` applied to the image and its label
    maps (nearest), the training crop of the MiB, DKD and STAR code with
    ``scale=(0.5, 2.0)``: the window's area is ``scale`` times the image's
    and its aspect ratio (w / h) log-uniform in ``ratio``. Up to ten draws
    for a window that fits in the image; else the central window with the
    image's aspect ratio clamped to ``ratio`` (the whole image when it is
    within). The output never needs padding.

    Required Keys: img, gt_seg_map (optional). Modified Keys: img,
    img_shape, gt_seg_map.

    Args:
        size (int | tuple[int, int]): output (h, w).
        scale (tuple[float, float]): area range, relative to the image.
        ratio (tuple[float, float]): aspect ratio range.
        interpolation (str): for the image (mmcv.imresize).
        max_attempts (int): draws before the central window.
        backend (str): 'cv2' (mmcv's default) or 'pillow': PIL's resize,
            as torchvision resizes PIL images in the authors' code
            (antialiased when shrinking; nearest at pixel centres for the
            labels). The paper configs use 'pillow'.
    """

    def __init__(self,
                 size: Union[int, Sequence[int]],
                 scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3. / 4., 4. / 3.),
                 interpolation: str = 'bilinear',
                 max_attempts: int = 10,
                 backend: str = 'cv2') -> None:
        self.size = _pair(size)
        if not (0 < scale[0] <= scale[1] and 0 < ratio[0] <= ratio[1]):
            raise ValueError('RandomResizedCrop: scale and ratio must be '
                             f'positive (min, max) ranges, got {scale}, '
                             f'{ratio}')
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.interpolation = interpolation
        self.max_attempts = max_attempts
        self.backend = check_choice('RandomResizedCrop: backend', backend,
                                    BACKENDS)

    def window(self, h: int, w: int) -> Tuple[int, int, int, int]:
        """(top, left, height, width) of the crop in an h x w image."""
        area = h * w
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(self.max_attempts):
            target = np.random.uniform(*self.scale) * area
            aspect = math.exp(np.random.uniform(*log_ratio))
            cw = int(round(math.sqrt(target * aspect)))
            ch = int(round(math.sqrt(target / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                top = np.random.randint(0, h - ch + 1)
                left = np.random.randint(0, w - cw + 1)
                return top, left, ch, cw
        aspect = w / h
        if aspect < self.ratio[0]:
            cw, ch = w, int(round(w / self.ratio[0]))
        elif aspect > self.ratio[1]:
            ch, cw = h, int(round(h * self.ratio[1]))
        else:
            ch, cw = h, w
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def transform(self, results: dict) -> dict:
        img = results['img']
        top, left, ch, cw = self.window(*img.shape[:2])
        out_h, out_w = self.size
        results['img'] = _resize(
            img[top:top + ch, left:left + cw], (out_w, out_h),
            self.interpolation, self.backend)
        for key in results.get('seg_fields', []):
            results[key] = _resize(
                results[key][top:top + ch, left:left + cw], (out_w, out_h),
                'nearest', self.backend)
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, '
                f'scale={self.scale}, ratio={self.ratio}, '
                f'backend={self.backend!r})')


@TRANSFORMS.register_module()
class ResizeCenterCrop(BaseTransform):
    """Resize the shorter side to ``size``, keep the central window of
    ``crop_size``, and evaluate there.

    torchvision's ``Resize(size)`` + ``CenterCrop(crop_size)`` (their
    rounding) on the image and its label maps (nearest): the view the STAR
    code evaluates (512 and 512). Put it after ``LoadAnnotations``. The
    crop becomes the evaluation frame: ``ori_shape`` is set to it, so mmseg
    resizes the prediction to the crop and the metric compares it with the
    cropped label, as the authors do. ``eval_view`` names the view for
    ``metrics.json``.

    Required Keys: img, gt_seg_map (optional). Modified Keys: img,
    img_shape, ori_shape, gt_seg_map.

    Args:
        size (int): length of the shorter side after resizing.
        crop_size (int | tuple[int, int]): (h, w) of the central window.
        interpolation (str): for the image (mmcv.imresize).
        backend (str): 'cv2' or 'pillow' (as :class:`RandomResizedCrop`).
    """

    def __init__(self, size: int, crop_size: Union[int, Sequence[int]],
                 interpolation: str = 'bilinear',
                 backend: str = 'cv2') -> None:
        self.size = int(size)
        self.crop_size = _pair(crop_size)
        self.interpolation = interpolation
        self.backend = check_choice('ResizeCenterCrop: backend', backend,
                                    BACKENDS)

    @property
    def eval_view(self) -> str:
        h, w = self.crop_size
        return f'resize-short-{self.size}_center-crop-{h}x{w}'

    def _resized(self, h: int, w: int) -> Tuple[int, int]:
        if h <= w:
            return self.size, int(self.size * w / h)
        return int(self.size * h / w), self.size

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        rh, rw = self._resized(h, w)
        ch, cw = self.crop_size
        if ch > rh or cw > rw:
            raise ValueError(
                f"{results.get('img_path')}: ResizeCenterCrop crop "
                f'{self.crop_size} is larger than the resized image '
                f'{(rh, rw)}')
        top = int(round((rh - ch) / 2.0))
        left = int(round((rw - cw) / 2.0))

        def view(arr, interpolation):
            arr = _resize(arr, (rw, rh), interpolation, self.backend)
            return arr[top:top + ch, left:left + cw]

        results['img'] = view(results['img'], self.interpolation)
        for key in results.get('seg_fields', []):
            results[key] = view(results[key], 'nearest')
        results['img_shape'] = results['img'].shape[:2]
        results['ori_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, '
                f'crop_size={self.crop_size}, backend={self.backend!r})')

