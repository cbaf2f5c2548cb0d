import filecmp
import os
import os.path as osp

import numpy as np
from PIL import Image

from cisseg.datasets import generate_synthetic_voc


def test_layout_values_and_determinism(tmp_path):
    a = generate_synthetic_voc(str(tmp_path / 'a'), 12, 4, size=32, seed=3)
    b = generate_synthetic_voc(str(tmp_path / 'b'), 12, 4, size=32, seed=3)
    with open(osp.join(a, 'ImageSets', 'Segmentation', 'train.txt')) as f:
        names = f.read().split()
    assert len(names) == 12
    seen = set()
    for n in names:
        png = osp.join(a, 'SegmentationClass', n + '.png')
        img = Image.open(png)
        assert img.mode == 'P'  # palette PNG, as VOC
        lab = np.asarray(img)
        vals = set(np.unique(lab).tolist())
        assert vals <= set(range(21)) | {255}
        assert 255 in vals  # void outlines
        seen |= vals
        assert filecmp.cmp(png, osp.join(b, 'SegmentationClass', n + '.png'),
                           shallow=False)
        assert osp.exists(osp.join(a, 'JPEGImages', n + '.jpg'))
    assert len(seen - {0, 255}) >= 10
    assert os.path.exists(osp.join(a, 'ImageSets', 'Segmentation',
                                   'val.txt'))


def test_existing_dataset_is_kept(tmp_path):
    root = generate_synthetic_voc(str(tmp_path / 'a'), 4, 2, size=32, seed=0)
    f = osp.join(root, 'ImageSets', 'Segmentation', 'train.txt')
    mtime = os.path.getmtime(f)
    generate_synthetic_voc(root, 4, 2, size=32, seed=1)
    assert os.path.getmtime(f) == mtime


def test_generator_arguments_are_checked(tmp_path):
    import pytest
    for kwargs, message in (
            (dict(num_train=0), 'num_train must be an integer >= 1, got 0'),
            (dict(num_val=-5), 'num_val must be an integer >= 1, got -5'),
            (dict(size=4), 'size must be an integer >= 16, got 4'),
            (dict(max_objects=0), 'max_objects must be an integer >= 1')):
        with pytest.raises(ValueError, match=message):
            generate_synthetic_voc(str(tmp_path / 'x'), **kwargs)
    assert not osp.exists(tmp_path / 'x')  # nothing written
    (tmp_path / 'file').write_text('')
    with pytest.raises(ValueError, match='exists and is not a folder'):
        generate_synthetic_voc(str(tmp_path / 'file'), 2, 1, size=16)
