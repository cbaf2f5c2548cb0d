"""Write Cityscapes' ``*_gtFine_labelTrainIds.png`` from ``*_labelIds.png``.

mmseg's ``CityscapesDataset`` reads the 19 train ids (255 = void). The
official download has ``gtFine/<split>/<city>/*_gtFine_labelIds.png`` (ids
0..33); this maps them with the table of the Cityscapes labels definition
(``cityscapesScripts/helpers/labels.py``) and writes the train-id map next
to each file. Usage::

    python tools/dataset_converters/cityscapes.py data/cityscapes [--nproc 8]
"""
import argparse
import glob
import os.path as osp
from multiprocessing import Pool
from typing import List

import numpy as np
from PIL import Image

IGNORE = 255
# Cityscapes label id -> train id, for the 19 evaluated classes; every other
# id (unlabeled, ego vehicle, ..., caravan, trailer, license plate) is void.
ID_TO_TRAIN_ID = {
    7: 0,  # road
    8: 1,  # sidewalk
    11: 2,  # building
    12: 3,  # wall
    13: 4,  # fence
    17: 5,  # pole
    19: 6,  # traffic light
    20: 7,  # traffic sign
    21: 8,  # vegetation
    22: 9,  # terrain
    23: 10,  # sky
    24: 11,  # person
    25: 12,  # rider
    26: 13,  # car
    27: 14,  # truck
    28: 15,  # bus
    31: 16,  # train
    32: 17,  # motorcycle
    33: 18,  # bicycle
}
SUFFIX_IN = '_gtFine_labelIds.png'
SUFFIX_OUT = '_gtFine_labelTrainIds.png'


def lookup_table() -> np.ndarray:
    """(256,) uint8: label id -> train id (255 for void)."""
    lut = np.full(256, IGNORE, dtype=np.uint8)
    for label_id, train_id in ID_TO_TRAIN_ID.items():
        lut[label_id] = train_id
    return lut


def convert_one(path: str) -> str:
    with Image.open(path) as img:
        ids = np.asarray(img)
    if ids.ndim != 2:
        raise ValueError(f'{path}: expected a single-channel labelIds map, '
                         f'got shape {ids.shape}')
    out = path[:-len(SUFFIX_IN)] + SUFFIX_OUT
    Image.fromarray(lookup_table()[ids], mode='L').save(out)
    return out


def find_label_ids(root: str) -> List[str]:
    gt = osp.join(root, 'gtFine')
    if not osp.isdir(gt):
        raise FileNotFoundError(f'{gt}: folder not found (expected '
                                'data_root/gtFine/<split>/<city>/); see '
                                'data/README.md for the layout')
    paths = sorted(glob.glob(osp.join(gt, '*', '*', '*' + SUFFIX_IN)))
    if not paths:
        raise FileNotFoundError(f'{gt}: no *{SUFFIX_IN} under '
                                '<split>/<city>/')
    return paths


def convert(root: str, nproc: int = 1) -> int:
    paths = find_label_ids(root)
    if nproc > 1:
        with Pool(nproc) as pool:
            pool.map(convert_one, paths, chunksize=16)
    else:
        for p in paths:
            convert_one(p)
    return len(paths)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Write Cityscapes labelTrainIds maps from labelIds')
    parser.add_argument('cityscapes_path', help='the cityscapes folder')
    parser.add_argument('--nproc', default=1, type=int,
                        help='number of processes')
    return parser.parse_args()


def main():
    args = parse_args()
    n = convert(args.cityscapes_path, args.nproc)
    print(f'wrote {n} *{SUFFIX_OUT} files')


if __name__ == '__main__':
    main()
