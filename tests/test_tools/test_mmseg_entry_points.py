"""mmseg's own tools and APIs on cisseg's outputs: mmseg's tools/test.py
with a leaf config and step 0's checkpoint, or with the config a step's
Runner dumps into ``step_<t>/`` and that step's checkpoint; ``init_model``
+ ``inference_model`` and ``MMSegInferencer`` (docs/mmseg_tools.md)."""
import glob
import json
import os
import os.path as osp
import sys

import mmseg
import numpy as np
import pytest
import torch

from tests.conftest import load_script
from tests.test_tools.conftest import LEAF

MMSEG_TEST = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools',
                      'test.py')
needs_mmseg_tools = pytest.mark.skipif(
    not osp.isfile(MMSEG_TEST), reason='mmseg installed without .mim/tools')
KEYS = ('mIoU_base', 'mIoU_inc', 'mIoU_all', 'hIoU')


def step_files(demo_run, step):
    """(the config the step's Runner dumped, the step's checkpoint)."""
    work_dir, data = demo_run
    entry = data['steps'][step]
    return (osp.join(work_dir, f'step_{step}', osp.basename(LEAF)),
            osp.join(work_dir, entry['checkpoint']))


def mmseg_test(monkeypatch, work_dir, *argv):
    """Run mmseg's own tools/test.py; returns the metrics it logged."""
    tool = load_script(MMSEG_TEST, 'mmseg_tools_test')
    monkeypatch.setattr(sys, 'argv',
                        [MMSEG_TEST, *argv, '--work-dir', work_dir])
    tool.main()
    (log, ) = glob.glob(osp.join(work_dir, '*', '*.json'))
    with open(log) as f:
        return json.load(f)


def assert_same(metrics, entry):
    for key in KEYS:
        if entry[key] is None:
            assert key not in metrics
        else:
            assert metrics[key] == pytest.approx(entry[key], abs=1e-2)


@needs_mmseg_tools
def test_mmseg_test_on_a_leaf_is_step_0(demo_run, tiny_voc, tmp_path,
                                        monkeypatch):
    _, ckpt = step_files(demo_run, 0)
    metrics = mmseg_test(
        monkeypatch, str(tmp_path), LEAF, ckpt, '--cfg-options',
        f'test_dataloader.dataset.dataset.data_root={tiny_voc}')
    assert_same(metrics, demo_run[1]['steps'][0])


@needs_mmseg_tools
def test_mmseg_test_on_a_dumped_step_config(demo_run, tmp_path,
                                            monkeypatch):
    config, ckpt = step_files(demo_run, 1)
    out = str(tmp_path / 'pred')
    metrics = mmseg_test(monkeypatch, str(tmp_path / 'logs'), config, ckpt,
                         '--out', out)
    assert_same(metrics, demo_run[1]['steps'][1])
    # --out: one PNG of train ids (classes seen at step 1: 0..16) per image
    from PIL import Image
    pngs = sorted(glob.glob(osp.join(out, '*.png')))
    assert len(pngs) == 16
    assert np.asarray(Image.open(pngs[0])).max() <= 16


@needs_mmseg_tools
def test_mmseg_tta(demo_run, tiny_voc, tmp_path, monkeypatch):
    """--tta with the leaf's own tta_pipeline: mmseg sets
    test_dataloader.dataset.pipeline; the step's label remapping goes into
    each TestTimeAug branch."""
    _, ckpt = step_files(demo_run, 0)
    metrics = mmseg_test(
        monkeypatch, str(tmp_path / 'logs'), LEAF, ckpt, '--tta',
        '--cfg-options',
        f'test_dataloader.dataset.dataset.data_root={tiny_voc}')
    # evaluated over the classes of step 0 only (labels remapped in both
    # branches; classes absent from labels and predictions are not logged)
    step0 = torch.load(ckpt, weights_only=False)['meta']['dataset_meta'][
        'classes']
    assert len(step0) == 16
    logged = {k[len('IoU.'):] for k in metrics if k.startswith('IoU.')}
    assert 'background' in logged and logged <= set(step0)
    assert 0 <= metrics['mIoU_base'] <= 100 and 'mIoU_inc' not in metrics


@pytest.mark.parametrize('step', [0, 1])
def test_init_model_inference_model_and_inferencer(demo_run, tiny_voc,
                                                   step):
    from mmseg.apis import MMSegInferencer, inference_model, init_model
    config, ckpt = step_files(demo_run, step)
    img = sorted(glob.glob(osp.join(tiny_voc, 'JPEGImages', '*.jpg')))[0]
    seen = 16 + step
    model = init_model(config, ckpt, device='cpu')
    assert model.decode_head.classes_per_step == [16, 1][:step + 1]
    assert len(model.dataset_meta['classes']) == seen
    pred = inference_model(model, img).pred_sem_seg.data
    assert pred.shape == (1, 32, 32) and int(pred.max()) < seen
    inferencer = MMSegInferencer(model=config, weights=ckpt, device='cpu')
    out = inferencer(img, return_datasamples=True)
    assert torch.equal(out.pred_sem_seg.data, pred)
    if step == 1:  # a moved run: the old model's checkpoint is not needed
        model = init_model(config, ckpt, device='cpu',
                           cfg_options={'model.old_checkpoint': None})
        assert model.old_model is None
        assert torch.equal(inference_model(model, img).pred_sem_seg.data,
                           pred)
    if step == 0:  # the leaf alone is step 0 too
        leaf_model = init_model(LEAF, ckpt, device='cpu')
        assert torch.equal(
            inference_model(leaf_model, img).pred_sem_seg.data, pred)


@needs_mmseg_tools
def test_mmseg_confusion_matrix(demo_run, tmp_path, monkeypatch):
    """mmseg's analysis_tools/confusion_matrix.py on step 1's dumped config
    and the PNGs mmseg's test.py --out wrote: one row and column per class
    seen at step 1 (train ids), every labelled pixel counted once."""
    from PIL import Image
    config, ckpt = step_files(demo_run, 1)
    out = str(tmp_path / 'pred')
    mmseg_test(monkeypatch, str(tmp_path / 'logs'), config, ckpt, '--out',
               out)
    tool = load_script(
        osp.join(osp.dirname(MMSEG_TEST), 'analysis_tools',
                 'confusion_matrix.py'), 'mmseg_confusion_matrix')
    from mmengine.config import Config
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    dataset = DATASETS.build(Config.fromfile(config).test_dataloader.dataset)
    preds = [np.asarray(Image.open(osp.join(out, f)))
             for f in sorted(os.listdir(out))]
    matrix = tool.calculate_confusion_matrix(dataset, preds)
    assert matrix.shape == (17, 17)
    labelled = sum(int((dataset[i]['data_samples'].gt_sem_seg.data != 255)
                       .sum()) for i in range(len(dataset)))
    assert matrix.sum() == labelled
    # the tool's own entry point draws it
    monkeypatch.setattr(sys, 'argv', [
        'confusion_matrix.py', config, out, str(tmp_path / 'cm')])
    tool.main()
    assert osp.isfile(tmp_path / 'cm' / 'confusion_matrix.png')
