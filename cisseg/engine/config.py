"""Load a cisseg config: mmengine's ``Config.fromfile`` plus the method.

mmengine refuses a key defined by two sibling ``_base_`` files, so a method
file (``configs/_base_/methods/*.py``) cannot define ``model`` next to the
model file. It defines a single key, ``method``, holding the overrides that
make the method (``model``, ``custom_hooks``, ``incremental`` ...).
:func:`load_config` gives them the precedence a base listed last would have:

    bases (model, dataset, schedule, runtime) < method < leaf files
    < --cfg-options

The method is merged into the loaded config, then the keys written in the
leaf files themselves (every file of the inheritance chain outside a
``_base_`` folder, deepest first) are merged again, so a leaf can still
override what its method sets.
"""
import ast
import copy
import os.path as osp
from typing import Dict, List, Optional

from mmengine.config import Config


def _parse(filename: str) -> ast.Module:
    with open(filename) as f:
        return ast.parse(f.read(), filename)


def _is_base(node: ast.stmt) -> bool:
    """Whether ``node`` is the ``_base_ = ...`` assignment."""
    return isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets)


def _bases(filename: str) -> List[str]:
    """Local files listed in ``_base_`` of ``filename`` (resolved)."""
    for node in _parse(filename).body:
        if _is_base(node):
            value = ast.literal_eval(node.value)
            value = [value] if isinstance(value, str) else list(value)
            return [osp.normpath(osp.join(osp.dirname(filename), v))
                    for v in value if '::' not in v]
    return []


def _own_keys(filename: str) -> Dict:
    """The top-level keys a config file writes itself (``_base_`` left
    out), as mmengine would read them."""
    tree = _parse(filename)
    tree.body = [n for n in tree.body if not _is_base(n)]
    scope: Dict = {}
    exec(compile(tree, filename, 'exec'), scope)
    return {k: v for k, v in scope.items()
            if not k.startswith('_') and not callable(v)
            and not hasattr(v, '__file__')}


def _leaf_chain(filename: str) -> List[str]:
    """Files of the inheritance chain outside ``_base_`` folders, deepest
    first (e.g. a disjoint leaf and the overlap leaf it inherits)."""
    chain: List[str] = []

    def visit(path: str) -> None:
        for base in _bases(path):
            if '_base_' not in base.split(osp.sep):
                visit(base)
        chain.append(path)

    visit(osp.abspath(filename))
    return chain


def apply_method(cfg: Config) -> Config:
    """Merge ``cfg.method`` into ``cfg`` (in place), drop the key, then
    re-apply the leaf files' own keys (see the module docstring)."""
    method = cfg.pop('method', None)
    if not method:
        return cfg
    method = method.to_dict() if hasattr(method, 'to_dict') else method
    cfg.merge_from_dict(copy.deepcopy(method), allow_list_keys=True)
    if cfg.filename and osp.isfile(cfg.filename):
        for leaf in _leaf_chain(cfg.filename):
            own = _own_keys(leaf)
            own.pop('method', None)
            cfg.merge_from_dict(own, allow_list_keys=True)
    return cfg


def load_config(filename: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile``, then the method, then ``cfg_options``."""
    cfg = apply_method(Config.fromfile(filename))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg
