"""Read a config as mmseg's tools do: ``Config.fromfile``, then
``--cfg-options``.

cisseg configs are plain mmengine configs: a method's config per dataset
(e.g. ``configs/star/star-basic_deeplabv3-r101_1xb24_voc-512x512.py``)
writes the method over the model, dataset, schedule and runtime
``_base_`` files, and the protocol leaves inherit it. Nothing is merged
outside mmengine, so ``Config.fromfile`` (mmseg's ``tools/test.py``,
``init_model``, ``MMSegInferencer``) reads the same config as cisseg's
tools.
"""
from typing import Optional

from mmengine.config import Config


def load_config(filename: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile(filename)`` with ``cfg_options`` merged in."""
    cfg = Config.fromfile(filename)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg
