"""Load a cisseg config: mmengine's ``Config.fromfile`` plus the method.

mmengine refuses a key defined by two sibling ``_base_`` files, so a method
file (``configs/_base_/methods/*.py``) cannot define ``model`` next to the
model file. It defines a single key, ``method``, holding the overrides that
make the method (``model``, ``custom_hooks``, ``incremental`` ...);
:func:`load_config` merges them into the config right after loading, before
``--cfg-options``, so command-line options win over the method file.
"""
import copy
from typing import Optional

from mmengine.config import Config


def apply_method(cfg: Config) -> Config:
    """Merge ``cfg.method`` into ``cfg`` (in place) and drop the key."""
    method = cfg.pop('method', None)
    if method:
        method = method.to_dict() if hasattr(method, 'to_dict') else method
        cfg.merge_from_dict(copy.deepcopy(method), allow_list_keys=True)
    return cfg


def load_config(filename: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile``, then the method, then ``cfg_options``."""
    cfg = apply_method(Config.fromfile(filename))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg
