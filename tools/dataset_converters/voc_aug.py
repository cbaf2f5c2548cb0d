"""Prepare Pascal VOC 2012 + SBD ("VOC aug") for class-incremental training.

Writes, under ``VOCdevkit/VOC2012``:

- ``SegmentationClassAug/<name>.png``: one single-channel label map (class
  ids 0..20, 255 = ignore) for each of the training images: VOC 2012's own
  label where VOC has one (it is finer and marks object borders 255),
  otherwise SBD's (``benchmark_RELEASE/dataset/cls/<name>.mat``);
- ``ImageSets/Segmentation/trainaug.txt``: the training list, VOC train
  + SBD train + SBD val minus VOC val (10,582 images with the full data);
- ``ImageSets/Segmentation/aug.txt``: the SBD-only part of it (mmseg's
  ``pascal_voc12_aug`` meaning of the file).

Usage::

    python tools/dataset_converters/voc_aug.py data/VOCdevkit \
        data/VOCdevkit/VOCaug [--nproc 8]
"""
import argparse
import os
import os.path as osp
from functools import partial
from multiprocessing import Pool
from typing import List

import numpy as np
from PIL import Image

FULL_TRAINAUG = 10582


def read_list(path: str) -> List[str]:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: image list not found')
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def read_sbd_mat(path: str) -> np.ndarray:
    """The class label map of one SBD ``cls/*.mat`` file (H, W) uint8."""
    from scipy.io import loadmat
    try:
        gt = loadmat(path, squeeze_me=True, struct_as_record=False)['GTcls']
        label = np.asarray(gt.Segmentation)
    except (OSError, KeyError, AttributeError, ValueError) as e:
        raise ValueError(f'{path}: not an SBD class annotation (expected a '
                         f"'GTcls' struct with a 'Segmentation' field): {e}")
    if label.ndim != 2:
        raise ValueError(f'{path}: Segmentation has shape {label.shape}, '
                         'expected (H, W)')
    return label.astype(np.uint8)


def convert_one(name: str, voc_labels: str, sbd_cls: str,
                out_dir: str, voc_names: frozenset) -> str:
    """Write ``out_dir/<name>.png``; returns where the label came from."""
    if name in voc_names:
        with Image.open(osp.join(voc_labels, name + '.png')) as img:
            label = np.asarray(img)  # palette indices = class ids
        source = 'voc'
    else:
        label = read_sbd_mat(osp.join(sbd_cls, name + '.mat'))
        source = 'sbd'
    Image.fromarray(label.astype(np.uint8), mode='L').save(
        osp.join(out_dir, name + '.png'))
    return source


def convert(devkit: str, sbd: str, nproc: int = 1) -> dict:
    """Convert and write the lists; returns counts for the report."""
    voc = osp.join(devkit, 'VOC2012')
    sets = osp.join(voc, 'ImageSets', 'Segmentation')
    voc_labels = osp.join(voc, 'SegmentationClass')
    sbd_dir = osp.join(sbd, 'dataset')
    sbd_cls = osp.join(sbd_dir, 'cls')
    for path in (voc_labels, sbd_cls, osp.join(voc, 'JPEGImages')):
        if not osp.isdir(path):
            raise FileNotFoundError(f'{path}: folder not found; see '
                                    'data/README.md for the layout')
    voc_train = read_list(osp.join(sets, 'train.txt'))
    voc_val = set(read_list(osp.join(sets, 'val.txt')))
    sbd_all = read_list(osp.join(sbd_dir, 'train.txt')) + read_list(
        osp.join(sbd_dir, 'val.txt'))
    trainaug = sorted((set(voc_train) | set(sbd_all)) - voc_val)
    aug = sorted(set(sbd_all) - set(voc_train) - voc_val)
    out_dir = osp.join(voc, 'SegmentationClassAug')
    os.makedirs(out_dir, exist_ok=True)
    job = partial(convert_one, voc_labels=voc_labels, sbd_cls=sbd_cls,
                  out_dir=out_dir, voc_names=frozenset(voc_train))
    if nproc > 1:
        with Pool(nproc) as pool:
            sources = pool.map(job, trainaug, chunksize=64)
    else:
        sources = [job(n) for n in trainaug]
    for fname, names in (('trainaug.txt', trainaug), ('aug.txt', aug)):
        with open(osp.join(sets, fname), 'w') as f:
            f.writelines(n + '\n' for n in names)
    return dict(trainaug=len(trainaug), aug=len(aug),
                voc=sources.count('voc'), sbd=sources.count('sbd'))


def parse_args():
    parser = argparse.ArgumentParser(
        description='Build SegmentationClassAug and trainaug.txt from '
        'Pascal VOC 2012 and SBD')
    parser.add_argument('devkit_path', help='the VOCdevkit folder')
    parser.add_argument('aug_path', help='SBD\'s benchmark_RELEASE folder')
    parser.add_argument('--nproc', default=1, type=int,
                        help='number of processes')
    return parser.parse_args()


def main():
    args = parse_args()
    counts = convert(args.devkit_path, args.aug_path, args.nproc)
    print(f"trainaug.txt: {counts['trainaug']} images ({counts['voc']} "
          f"labels from VOC, {counts['sbd']} from SBD); aug.txt: "
          f"{counts['aug']}")
    if counts['trainaug'] != FULL_TRAINAUG:
        print(f'note: the full VOC 2012 + SBD gives {FULL_TRAINAUG} images')


if __name__ == '__main__':
    main()
