"""cisseg: class-incremental semantic segmentation on MMSegmentation 1.x."""
import os.path as osp

from setuptools import find_packages, setup


def version():
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'cisseg', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='cisseg',
    version=version(),
    description='Class-incremental semantic segmentation (STAR-Basic, '
    'STAR-Lite, MiB, fine-tuning) as an MMSegmentation plugin',
    long_description=open('README.md').read() if osp.exists('README.md')
    else '',
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    packages=find_packages(exclude=('tests', 'tests.*', 'configs', 'tools')),
    install_requires=[
        # torch: install the build for your machine first (see README).
        'torch>=2.0',
        'mmcv>=2.0.0,<2.2.0',  # the full build with ops: mmseg imports them
        'mmengine>=0.10.0,<1.0',
        'mmsegmentation>=1.2.0,<1.3',
        'numpy',
        'opencv-python-headless',
        'matplotlib',
        'prettytable',
        'ftfy',  # imported by mmseg.models at import time
        'regex',
        # mmengine and mmcv import pkg_resources, removed in setuptools 81.
        'setuptools<81',
    ],
    extras_require={'tests': ['pytest']},
    license='Apache License 2.0',
)
