"""A synthetic dataset in the Pascal VOC 2012 layout ("shapes").

Every image holds a few objects of the 20 VOC classes drawn as filled shapes
on a textured background. A class is recognised by its colour (20 colours
far apart in RGB), the shape is random, so a small network learns the
classes from scratch in minutes on a CPU while objects of several classes
share images, as in VOC. Object outlines are 255 (void), as in VOC.
"""
import colorsys
import os
import os.path as osp
from typing import Optional

import cv2
import numpy as np
from PIL import Image

from cisseg.utils import atomic_write_text

NUM_CLASSES = 21  # background + 20 VOC classes
# Written first by the generator: a data root holding it but no train.txt
# is a generation that was interrupted (not a user's dataset).
MARKER = '.cisseg_synthetic'


def class_colors() -> np.ndarray:
    """RGB colour of each object class (index 1..20; row 0 is unused)."""
    colors = [(0, 0, 0)]
    for i in range(20):
        hue = (i % 10) / 10.0
        value = 1.0 if i < 10 else 0.55
        r, g, b = colorsys.hsv_to_rgb(hue, 0.9, value)
        colors.append((int(r * 255), int(g * 255), int(b * 255)))
    return np.array(colors, dtype=np.uint8)


def voc_palette() -> list:
    """The palette of VOC's SegmentationClass PNGs (flattened RGB)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[i] = (r, g, b)
    return palette.flatten().tolist()


def _draw_object(rng, mask: np.ndarray) -> None:
    """Draw one random filled shape (ellipse, rectangle or triangle)."""
    h, w = mask.shape
    cx, cy = rng.randint(w // 8, w - w // 8), rng.randint(h // 8, h - h // 8)
    rx = rng.randint(max(w // 10, 4), max(w // 4, 6))
    ry = rng.randint(max(h // 10, 4), max(h // 4, 6))
    kind = rng.randint(3)
    if kind == 0:
        cv2.ellipse(mask, (cx, cy), (rx, ry), int(rng.randint(180)), 0, 360,
                    1, -1)
    elif kind == 1:
        cv2.rectangle(mask, (cx - rx, cy - ry), (cx + rx, cy + ry), 1, -1)
    else:
        pts = np.array([[cx, cy - ry], [cx - rx, cy + ry], [cx + rx, cy + ry]],
                       dtype=np.int32)
        cv2.fillPoly(mask, [pts], 1)


def make_sample(rng: np.random.RandomState, size: int = 64,
                max_objects: int = 4):
    """One (RGB image, label) pair; label values in 0..20 and 255."""
    colors = class_colors()
    # Background: grey-ish smooth texture with a random tint.
    base = rng.uniform(60, 190)
    noise = cv2.resize(rng.uniform(-40, 40, (size // 8, size // 8, 3)),
                       (size, size), interpolation=cv2.INTER_CUBIC)
    img = np.clip(base + noise + rng.uniform(-15, 15, 3), 0, 255)
    label = np.zeros((size, size), dtype=np.uint8)
    objects = np.zeros((size, size), dtype=np.uint8)
    for _ in range(rng.randint(1, max_objects + 1)):
        cls = rng.randint(1, NUM_CLASSES)
        mask = np.zeros((size, size), dtype=np.uint8)
        _draw_object(rng, mask)
        if mask.sum() < 12:
            continue
        color = colors[cls].astype(np.float64) + rng.uniform(-12, 12, 3)
        img[mask > 0] = color
        label[mask > 0] = cls
        objects[mask > 0] = 1
        # A one-pixel void outline around each object, as VOC has.
        edge = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3)))
        label[edge > 0] = 255
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    return img, label


def generate_synthetic_voc(root: str,
                           num_train: int = 400,
                           num_val: int = 100,
                           size: int = 64,
                           max_objects: int = 4,
                           seed: int = 0,
                           overwrite: bool = False) -> str:
    """Write the synthetic dataset under ``root`` in VOC 2012's layout.

    ``root/JPEGImages/*.jpg``, ``root/SegmentationClass/*.png`` (palette
    PNGs, as VOC ships them) and ``root/ImageSets/Segmentation/{train,val,
    trainval}.txt``. The same arguments always give the same files.

    Returns:
        str: ``root``.
    """
    for name, value, low in (('num_train', num_train, 1),
                             ('num_val', num_val, 1), ('size', size, 16),
                             ('max_objects', max_objects, 1)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f'synthetic dataset: {name} must be an integer '
                             f'>= {low}, got {value!r}')
    if osp.exists(root) and not osp.isdir(root):
        raise ValueError(f'{root}: exists and is not a folder')
    split_file = osp.join(root, 'ImageSets', 'Segmentation', 'train.txt')
    if osp.exists(split_file) and not overwrite:
        return root
    for sub in ('JPEGImages', 'SegmentationClass',
                osp.join('ImageSets', 'Segmentation')):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    with open(osp.join(root, MARKER), 'w') as f:
        f.write(f'num_train={num_train} num_val={num_val} size={size} '
                f'max_objects={max_objects} seed={seed}\n')
    rng = np.random.RandomState(seed)
    palette = voc_palette()
    names = {'train': [], 'val': []}
    for split, num in (('train', num_train), ('val', num_val)):
        for i in range(num):
            name = f'2026_{split}_{i:06d}'
            img, label = make_sample(rng, size, max_objects)
            cv2.imwrite(osp.join(root, 'JPEGImages', name + '.jpg'),
                        img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
            png = Image.fromarray(label, mode='P')
            png.putpalette(palette)
            png.save(osp.join(root, 'SegmentationClass', name + '.png'))
            names[split].append(name)
    seg_dir = osp.join(root, 'ImageSets', 'Segmentation')
    for split, lines in list(names.items()) + [
            ('trainval', names['train'] + names['val'])]:
        # train.txt last: its presence marks a complete dataset.
        if split == 'train':
            continue
        with open(osp.join(seg_dir, split + '.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    atomic_write_text(split_file, '\n'.join(names['train']) + '\n')
    return root


def ensure_synthetic_voc(root: Optional[str],
                         data_root: Optional[str] = None, **kwargs) -> None:
    """Generate the dataset at ``root`` unless a VOC-layout dataset is
    already there (a user's own data is used as it is). A generation that
    was interrupted (marker but no ``train.txt``) is done again.

    Args:
        root (str): where the datasets read the data.
        data_root (str, optional): the one folder where a config allows the
            generation (``synthetic_data.data_root``): a missing ``root``
            elsewhere (a misspelt path) raises FileNotFoundError instead of
            filling that path with generated images.
        **kwargs: arguments of :func:`generate_synthetic_voc`.
    """
    if root is None:
        return
    if osp.isdir(osp.join(root, 'ImageSets', 'Segmentation')) and osp.isdir(
            osp.join(root, 'JPEGImages')):
        interrupted = osp.exists(osp.join(root, MARKER)) and not osp.exists(
            osp.join(root, 'ImageSets', 'Segmentation', 'train.txt'))
        if not interrupted:
            return
    if data_root is not None and not osp.exists(osp.join(root, MARKER)) \
            and osp.abspath(root) != osp.abspath(data_root):
        raise FileNotFoundError(
            f'data_root {root!r}: no dataset there; the synthetic dataset is '
            f'generated only at synthetic_data.data_root={data_root!r} '
            f'(check the path, or set synthetic_data.data_root={root!r} '
            'to generate it there)')
    generate_synthetic_voc(root, **kwargs)
