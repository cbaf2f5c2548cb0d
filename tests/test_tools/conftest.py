import os.path as osp

import pytest

from cisseg.engine import StepScheduler, load_config
from tests.conftest import REPO

#: the shipped leaf the fixture run trains (steps 0-1 of VOC 15-1)
LEAF = osp.join(REPO, 'configs', 'demo', 'star-basic_shapes-15-1-overlap.py')
OPTIONS = {
    'train_cfg.max_iters': 2,
    'incremental.step_overrides.inc.train_cfg.max_iters': 2,
    'train_dataloader.batch_size': 4,
    'default_hooks.logger.interval': 1,
}


@pytest.fixture(scope='session')
def demo_run(tiny_voc, tmp_path_factory):
    """Steps 0 and 1 of the STAR-Basic demo leaf (2 iterations each) on the
    tiny synthetic data: (work dir, metrics.json data)."""
    work_dir = str(tmp_path_factory.mktemp('demo_run'))
    cfg = load_config(LEAF, dict(OPTIONS, data_root=tiny_voc,
                                 work_dir=work_dir))
    data = StepScheduler(cfg, steps='0-1').run()
    return work_dir, data
