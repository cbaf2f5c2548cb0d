"""Smoke test of tools/analysis_tools/visualize_false_positives.py on a
tiny two-step fine-tuning run."""
import glob
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from cisseg.engine import StepScheduler, load_config
from tests.conftest import REPO, load_script

CONFIG = osp.join(REPO, 'configs', 'demo', 'finetune_shapes-15-1-overlap.py')


def load_tool():
    path = osp.join(REPO, 'tools', 'analysis_tools',
                    'visualize_false_positives.py')
    return load_script(path)


def options(data_root):
    return {
        'data_root': data_root,
        'incremental.task': '15-5',
        'train_cfg.max_iters': 3,
        'incremental.step_overrides.inc.train_cfg.max_iters': 2,
        'train_dataloader.batch_size': 4,
    }


@pytest.fixture(scope='module')
def tiny_run(tiny_voc, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('fp_run'))
    cfg = load_config(CONFIG, dict(options(tiny_voc), work_dir=work_dir))
    StepScheduler(cfg).run()
    return work_dir


def test_tool_on_two_steps(tiny_run, tiny_voc, tmp_path):
    tool = load_tool()
    opts = [f'{k}={v}' for k, v in options(tiny_voc).items()]
    out = str(tmp_path / 'fp')
    names = [osp.splitext(osp.basename(p))[0] for p in
             sorted(glob.glob(osp.join(tiny_voc, 'SegmentationClass',
                                       '*val*.png')))]
    results = tool.main([CONFIG, tiny_run, '--step', '0', '1', '--topk',
                         '2', '--images', names[0], '--out-dir', out,
                         '--device', 'cpu', '--cfg-options', *opts])
    assert list(results) == ['step 0', 'step 1']
    # every labelled val pixel is counted once: correct or one error kind
    labels = [np.array(Image.open(osp.join(tiny_voc, 'SegmentationClass',
                                           n + '.png'))) for n in names]
    valid = sum(int((lab != 255).sum()) for lab in labels)
    assert len(names) == 16
    for key, res in results.items():
        c = res['counts']
        assert res['num_images'] == 16
        assert c['valid'] == valid
        assert c['new_over_old'] + c['new_over_bg'] + c['other'] + \
            c['correct'] == valid
        assert c['bg_over_old'] <= c['other']
        # the chosen image first, then the 2 with most errors (not repeated)
        assert 2 <= len(res['panels']) <= 3
        assert res['panels'][0].endswith(f"step{res['step']}_{names[0]}.png")
        assert all(osp.getsize(p) > 0 for p in res['panels'])
    assert results['step 0']['counts']['new_over_old'] == 0
    assert osp.getsize(osp.join(out, 'fp_shares.png')) > 0
    with open(osp.join(out, 'fp_shares.json')) as f:
        saved = json.load(f)
    assert saved['method'] == 'finetune'
    assert saved['steps']['step 1']['counts'] == results['step 1']['counts']

    # a later run can add these shares to its own table and chart
    again = tool.main([CONFIG, tiny_run, '--step', '1', '--topk', '0',
                       '--out-dir', str(tmp_path / 'fp2'), '--add-shares',
                       osp.join(out, 'fp_shares.json'), '--cfg-options',
                       *opts])
    assert again['step 1']['counts'] == results['step 1']['counts']
    assert again['step 1']['panels'] == []


def test_tool_errors(tiny_run, tiny_voc, tmp_path, capsys):
    tool = load_tool()
    opts = ['--cfg-options'] + [f'{k}={v}'
                                for k, v in options(tiny_voc).items()]
    with pytest.raises(FileNotFoundError, match='work dir not found'):
        tool.main([CONFIG, str(tmp_path / 'nope')] + opts)
    with pytest.raises(FileNotFoundError, match='metrics.json: not found'):
        tool.main([CONFIG, str(tmp_path)] + opts)
    with pytest.raises(ValueError,
                       match=r'--step 2: the protocol has steps 0..1'):
        tool.main([CONFIG, tiny_run, '--step', '2',
                   '--out-dir', str(tmp_path / 'o')] + opts)
    capsys.readouterr()
    with pytest.raises(ValueError, match=r"--images: \['no_such'\] are not "
                       r'val images of .* at step 1'):
        tool.main([CONFIG, tiny_run, '--step', '1', '--images', 'no_such',
                   '--out-dir', str(tmp_path / 'o')] + opts)
    assert 'val images, ' not in capsys.readouterr().out  # no pass ran
