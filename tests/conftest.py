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


def load_script(path, name=None):
    """Import a script that is not a package module (a tool under
    ``tools/``, ``setup.py``) and return it; its ``main`` does not run."""
    import importlib.util
    name = name or '_script_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


#: STAR-Basic demo, 15-5 on ``tiny_voc``: long enough at step 0 for the
#: model to segment some foreground, so that evaluating the wrong weights
#: would change the numbers the equality tests compare
STAR_LEARNED = {
    'incremental.task': '15-5',
    'train_cfg.max_iters': 120,
    'incremental.step_overrides.inc.train_cfg.max_iters': 10,
    'train_dataloader.batch_size': 8,
    'default_hooks.logger.interval': 40,
}


def learned_cfg(data_root, work_dir, **extra):
    """The config of :func:`star_run` (``extra``: more options)."""
    from cisseg.engine import load_config
    return load_config(
        osp.join(REPO, 'configs', 'demo', 'star-basic_shapes-15-1-overlap.py'),
        dict(STAR_LEARNED, data_root=data_root, work_dir=work_dir, **extra))


def foreground_ious(entry):
    """The IoU of every foreground class of a metrics.json entry."""
    return [v for k, v in entry['per_class'].items()
            if k != 'background' and v is not None]


@pytest.fixture(scope='session')
def star_run(tiny_voc, tmp_path_factory):
    """A finished 2-step STAR-Basic run whose models learned something:
    (work dir, metrics.json). Copy it before changing it."""
    from cisseg.engine import StepScheduler
    work_dir = str(tmp_path_factory.mktemp('star_learned'))
    data = StepScheduler(learned_cfg(tiny_voc, work_dir)).run()
    assert [e['step'] for e in data['steps']] == [0, 1]
    for entry in data['steps']:
        assert max(foreground_ious(entry)) > 0, entry['per_class']
    return work_dir, data


def copy_steps(run, dest, steps):
    """Copy the folders and metrics.json entries of ``steps`` of a finished
    run to ``dest`` (a new work dir); returns ``dest``."""
    import json
    import shutil
    work_dir, data = run
    os.makedirs(dest)
    for step in steps:
        shutil.copytree(osp.join(work_dir, f'step_{step}'),
                        osp.join(dest, f'step_{step}'))
    with open(osp.join(dest, 'metrics.json'), 'w') as f:
        json.dump(dict(data, steps=[e for e in data['steps']
                                    if e['step'] in steps]), f, indent=2)
    return dest
