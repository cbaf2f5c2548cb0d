"""An optimizer constructor that keeps the parameter groups few."""
from typing import List

from mmengine.optim import DefaultOptimWrapperConstructor
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class GroupedOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor, with its parameter groups merged.

    With a ``paramwise_cfg`` (e.g. the decode head's 10x learning rate),
    :class:`DefaultOptimWrapperConstructor` puts every parameter in a group
    of its own: ~300 groups for a ResNet-101 DeepLabV3, so SGD's
    multi-tensor (foreach) kernels run once per parameter and the optimizer
    step becomes hundreds of small kernel launches (7 ms of a 63 ms
    iteration on an H200). Here the groups that share every setting (lr,
    weight decay, momentum, ...) are merged, in order of first appearance,
    so there are as many groups as distinct settings (the authors' code
    builds 2-3). Each parameter's update is the same.
    """

    def add_params(self, params: List[dict], module, prefix: str = '',
                   **kwargs) -> None:
        super().add_params(params, module, prefix=prefix, **kwargs)
        if prefix == '':  # the top-level call: every group is in
            params[:] = merge_param_groups(params)


def merge_param_groups(groups: List[dict]) -> List[dict]:
    """Groups with equal settings merged (parameter order kept within each
    setting; settings in order of first appearance)."""
    merged = {}
    for group in groups:
        key = tuple(sorted((k, repr(v)) for k, v in group.items()
                           if k != 'params'))
        if key not in merged:
            merged[key] = dict(group, params=[])
        merged[key]['params'].extend(group['params'])
    return list(merged.values())
