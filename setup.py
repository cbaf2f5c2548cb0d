"""cisseg: class-incremental semantic segmentation on MMSegmentation 1.x."""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
#: folders shipped inside the package, under cisseg/.mim/, as OpenMMLab
#: packages ship theirs (mim and `python -m cisseg...` users find them there)
MIM_FOLDERS = ('configs', 'tools')


def version():
    scope = {}
    with open(osp.join(HERE, 'cisseg', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def requirements(name):
    """The requirement lines of requirements/<name>.txt."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def add_mim_files():
    """Put configs/ and tools/ under cisseg/.mim/: copies when a wheel or an
    sdist is built (``pip install .``), symbolic links for an editable
    install (``pip install -e .``), nothing for other commands."""
    commands = set(sys.argv[1:])
    if commands & {'develop', 'editable_wheel'}:
        link = True
    elif commands & {'bdist_wheel', 'sdist', 'build', 'install'}:
        link = False
    else:
        return
    mim = osp.join(HERE, 'cisseg', '.mim')
    os.makedirs(mim, exist_ok=True)
    # setuptools copies the package into build/lib/ without removing what
    # is no longer there: a config deleted since the last build would ship
    shutil.rmtree(osp.join(HERE, 'build', 'lib', 'cisseg', '.mim'),
                  ignore_errors=True)
    for name in MIM_FOLDERS:
        src, dst = osp.join(HERE, name), osp.join(mim, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if link:
            os.symlink(osp.relpath(src, mim), dst)
        else:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
                '__pycache__', '*.pyc'))


if __name__ == '__main__':
    add_mim_files()
    setup(
        name='cisseg',
        version=version(),
        description='Class-incremental semantic segmentation (STAR-Basic, '
        'STAR-Lite, STAR-M, DKD, PLOP, MiB, fine-tuning) as an '
        'MMSegmentation plugin',
        author='cisseg contributors',
        keywords='computer vision, semantic segmentation, class-incremental '
        'learning, continual learning, mmsegmentation',
        long_description=open(osp.join(HERE, 'README.md')).read(),
        long_description_content_type='text/markdown',
        license='Apache-2.0',
        license_files=['LICENSE'],
        classifiers=[
            'Programming Language :: Python :: 3',
            'Topic :: Scientific/Engineering :: Artificial Intelligence',
        ],
        python_requires='>=3.9',
        packages=find_packages(exclude=('tests', 'tests.*', 'configs',
                                        'configs.*', 'tools', 'tools.*')),
        package_data={
            'cisseg': [f'.mim/{name}/**/*' for name in MIM_FOLDERS]
        },
        include_package_data=True,
        install_requires=requirements('runtime'),
        extras_require={
            'tests': requirements('tests'),
            'tensorboard': ['tensorboard'],
            'wandb': ['wandb'],
            'optional': requirements('optional'),
            'all': requirements('tests') + requirements('optional'),
        },
        zip_safe=False,
    )
