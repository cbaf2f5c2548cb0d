import os.path as osp
import subprocess
import sys

import torch

from tests.conftest import REPO

TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'recognition_side.py')


def run(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True,
                          text=True, cwd=REPO)


def test_same_settings_give_the_authors_result(tmp_path):
    # two steps' classifiers (3 + 2 classes) in a checkpoint; at the authors'
    # settings cisseg's optimiser is theirs: cosine 1 to their result
    gen = torch.Generator().manual_seed(0)
    state = {f'decode_head.conv_seg.{i}.{p}': t for i, k in enumerate((3, 2))
             for p, t in (('weight', torch.randn(k, 8, 1, 1, generator=gen)),
                          ('bias', torch.randn(k, generator=gen)))}
    path = str(tmp_path / 'ckpt.pth')
    torch.save(dict(state_dict=state), path)
    out = run(path, '--authors-iters', '400', '--iters', '400', '--lr',
              '2.5e-4')
    assert out.returncode == 0, out.stderr
    assert '5 classes x 8 channels' in out.stdout
    assert 'authors at     400: cosine to their last min 1.0000' in out.stdout
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith('cisseg: 400 steps at lr 0.00025')
    assert last.endswith('cosine to theirs min 1.0000 mean 1.0000')


def test_checkpoint_without_classifiers(tmp_path):
    path = str(tmp_path / 'empty.pth')
    torch.save(dict(state_dict={}), path)
    out = run(path)
    assert out.returncode == 1
    assert 'no decode_head.conv_seg.<i>.weight' in out.stderr
