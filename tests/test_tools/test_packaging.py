"""``pip install .`` ships configs/ and tools/ under cisseg/.mim/ (as
OpenMMLab packages do), its requirements come from requirements/, and the
installed package reads its own configs; ``pip install -e .`` links them."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO, load_script

SKIP = shutil.ignore_patterns('.git', '.venv', 'data', 'work_dirs', '.mim',
                              '__pycache__', '*.egg-info', 'build', 'dist',
                              '.pytest_cache')


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """A copy of the repository's sources (no venv, data or build output)."""
    src = str(tmp_path_factory.mktemp('src') / 'cisseg')
    shutil.copytree(REPO, src, ignore=SKIP)
    return src


def test_wheel_ships_configs_and_tools(source, tmp_path):
    out = str(tmp_path / 'wheel')
    subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', source, '--no-deps',
        '--no-build-isolation', '-q', '-w', out
    ], check=True, capture_output=True, timeout=300)
    (whl, ) = os.listdir(out)
    with zipfile.ZipFile(osp.join(out, whl)) as z:
        names = set(z.namelist())
        meta = z.read(next(n for n in names if n.endswith('/METADATA')))
    meta = meta.decode()
    for path in ('configs/_base_/default_runtime.py',
                 'configs/demo/star-basic_shapes.py',
                 'configs/demo/star-basic_shapes-15-1-overlap.py',
                 'configs/star/star-basic_deeplabv3-r101_1xb24_'
                 'voc-15-1-overlap-512x512.py',
                 'tools/train.py', 'tools/test.py', 'tools/dist_train.sh',
                 'tools/misc/generate_configs.py'):
        assert f'cisseg/.mim/{path}' in names, path
    assert not any('__pycache__' in n for n in names)
    assert any(n.endswith('licenses/LICENSE') for n in names)
    requires = [line.split(':', 1)[1].strip() for line in meta.splitlines()
                if line.startswith('Requires-Dist:')]
    with open(osp.join(REPO, 'requirements', 'runtime.txt')) as f:
        runtime = [line.split('#')[0].strip() for line in f]
    names_of = {r.split(';')[0].split('<')[0].split('>')[0].split('=')[0]
                for r in requires}
    assert {r.split('<')[0].split('>')[0].split('=')[0]
            for r in runtime if r} <= names_of
    # one OpenCV (mmcv's opencv-python); setuptools is mmcv's build need
    assert not any(r.startswith(('opencv', 'setuptools')) for r in requires)
    assert 'Requires-Python: >=3.9' in meta
    for extra in ('tests', 'tensorboard', 'wandb'):
        assert f'Provides-Extra: {extra}' in meta

    # installed (not editable), it reads its own configs from .mim
    site = str(tmp_path / 'site')
    subprocess.run([
        sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
        '--target', site, osp.join(out, whl)
    ], check=True, capture_output=True, timeout=300)
    code = ('import os.path as osp, cisseg; '
            'from mmengine.config import Config; '
            "mim = osp.join(osp.dirname(cisseg.__file__), '.mim'); "
            "cfg = Config.fromfile(osp.join(mim, 'configs', 'demo', "
            "'star-lite_shapes-15-1-overlap.py')); "
            'print(cisseg.__file__, cfg.model.type, '
            'cfg.custom_hooks[0].type)')
    proc = subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path),
                          env=dict(os.environ, PYTHONPATH=site),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    file, model, hook = proc.stdout.split()[-3:]
    assert file.startswith(site)
    assert (model, hook) == ('STARSegmentor', 'PrototypeDerivationHook')


def test_editable_install_links(source, monkeypatch):
    # setup() runs only as a script
    setup_py = load_script(osp.join(source, 'setup.py'), '_cisseg_setup')
    mim = osp.join(source, 'cisseg', '.mim')
    monkeypatch.setattr(sys, 'argv', ['setup.py', 'editable_wheel'])
    setup_py.add_mim_files()
    for name in ('configs', 'tools'):
        assert os.readlink(osp.join(mim, name)) == osp.join('..', '..', name)
        assert osp.isfile(osp.join(mim, name, 'train.py' if name == 'tools'
                                   else 'demo/mib_shapes.py'))
    monkeypatch.setattr(sys, 'argv', ['setup.py', 'egg_info'])
    setup_py.add_mim_files()  # metadata only: left as it is
    assert osp.islink(osp.join(mim, 'configs'))
