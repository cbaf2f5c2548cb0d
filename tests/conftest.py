import os
import os.path as osp
import sys
import warnings

import numpy as np
import pytest

warnings.filterwarnings('ignore', message='.*torch.jit.script.*')
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
os.environ.setdefault('OMP_NUM_THREADS', '2')

import cisseg  # noqa: E402,F401
from mmseg.utils import register_all_modules  # noqa: E402

register_all_modules(init_default_scope=True)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def write_voc(root, samples, split='train'):
    """Write (name, label array) samples in VOC's layout with flat images."""
    import cv2
    from PIL import Image
    from cisseg.datasets.synthetic import voc_palette
    for sub in ('JPEGImages', 'SegmentationClass',
                osp.join('ImageSets', 'Segmentation')):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    names = []
    for name, label in samples:
        label = np.asarray(label, dtype=np.uint8)
        img = np.full(label.shape + (3, ), 128, np.uint8)
        cv2.imwrite(osp.join(root, 'JPEGImages', name + '.jpg'), img)
        png = Image.fromarray(label, mode='P')
        png.putpalette(voc_palette())
        png.save(osp.join(root, 'SegmentationClass', name + '.png'))
        names.append(name)
    with open(osp.join(root, 'ImageSets', 'Segmentation', split + '.txt'),
              'a') as f:
        f.write('\n'.join(names) + '\n')
    return root


@pytest.fixture(scope='session')
def tiny_voc(tmp_path_factory):
    """A small synthetic VOC-layout dataset shared by slow tests."""
    from cisseg.datasets import generate_synthetic_voc
    root = str(tmp_path_factory.mktemp('data') / 'shapes_voc')
    return generate_synthetic_voc(root, num_train=60, num_val=16, size=32,
                                  seed=0)
