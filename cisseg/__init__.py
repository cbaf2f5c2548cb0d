"""cisseg: class-incremental semantic segmentation on MMSegmentation 1.x.

Importing the package registers its datasets, transforms, models, metrics
and hooks in mmseg's registries and applies the checkpoint fixes of
``cisseg.engine.checkpoint`` (``weights_only`` loading with an allow-list,
atomic saving).
"""
import warnings

# torch's own torch.distributed.optim modules script functions when
# mmengine imports them (deprecated in recent torch): one narrow filter
warnings.filterwarnings(
    'ignore', message='.*torch.jit.script.*deprecated',
    category=DeprecationWarning)

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__']
