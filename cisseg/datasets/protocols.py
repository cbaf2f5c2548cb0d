"""Class-incremental protocols: which classes are learned at which step.

A protocol is an ordered list of steps, each a list of *dataset* class ids.
The position of a class in the flattened order is its *train id*: the index
of its logit in the model and of its row in the metrics. Background (dataset
id 0 for VOC and ADE20K) is always train id 0 and belongs to step 0.
Cityscapes has no background class: a virtual ``background`` (train id 0)
receives the pixels of classes that are not labelled at a step.

Pixels of *future* classes (not seen yet at a step) become background by
default (``unseen='background'``, the MiB/PLOP convention); with
``unseen='ignore'`` they become 255 instead, in training and in testing.
Old classes in a step's training labels are always background.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

IGNORE_INDEX = 255
# A value of a look-up table for dataset ids that the dataset does not have.
INVALID = -1

# Number of classes and whether dataset id 0 is a background class.
DATASET_INFO = {
    'voc': dict(num_classes=21, background=True),
    'ade': dict(num_classes=151, background=True),
    'cityscapes': dict(num_classes=19, background=False),
}

# Task name -> (number of classes in step 0 besides background, classes per
# later step), as the CISS papers name their protocols; 'offline' is joint
# training.
TASKS = {
    'voc': {
        '19-1': (19, 1), '15-5': (15, 5), '15-1': (15, 1), '10-1': (10, 1),
        '5-3': (5, 3), '2-2': (2, 2), 'offline': (20, 0),
    },
    'ade': {
        '100-50': (100, 50), '100-10': (100, 10), '50-50': (50, 50),
        '100-5': (100, 5), 'offline': (150, 0),
    },
    'cityscapes': {
        '13-6': (13, 6), '13-1': (13, 1), '10-3': (10, 3), 'offline': (19, 0),
    },
}

SETTINGS = ('overlap', 'disjoint')
UNSEEN = ('background', 'ignore')


def _split(classes: List[int], num_base: int, num_inc: int,
           head: List[int]) -> List[List[int]]:
    steps = [head + classes[:num_base]]
    rest = classes[num_base:]
    for i in range(0, len(rest), max(num_inc, 1)):
        steps.append(rest[i:i + num_inc])
    return steps


@dataclass(frozen=True)
class Protocol:
    """An incremental protocol over a dataset.

    Args:
        dataset (str): 'voc', 'ade' or 'cityscapes'.
        task (str): a task name of ``TASKS[dataset]`` (e.g. '15-1'), or
            'custom' when ``steps`` is given.
        setting (str): 'overlap' or 'disjoint'.
        steps (list[list[int]]): the dataset class ids of each step.
        class_names (tuple[str]): the dataset's class names, by dataset id.
        unseen (str): what pixels of classes not seen yet become:
            'background' (train id 0) or 'ignore' (255).
    """
    dataset: str
    task: str
    setting: str
    steps: Tuple[Tuple[int, ...], ...]
    class_names: Tuple[str, ...] = field(default=(), compare=False)
    unseen: str = 'background'

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    @property
    def has_background(self) -> bool:
        return DATASET_INFO[self.dataset]['background']

    @property
    def num_dataset_classes(self) -> int:
        return DATASET_INFO[self.dataset]['num_classes']

    def _check_step(self, step: int) -> None:
        if not 0 <= step < self.num_steps:
            raise ValueError(f'step {step} is out of range: protocol '
                             f'{self.dataset} {self.task} has steps '
                             f'0..{self.num_steps - 1}')

    def new_classes(self, step: int) -> List[int]:
        """Dataset ids learned at ``step``."""
        self._check_step(step)
        return list(self.steps[step])

    def seen_classes(self, step: int) -> List[int]:
        """Dataset ids seen up to and including ``step``, in train-id order
        (without the virtual background of datasets that have none)."""
        self._check_step(step)
        return [c for s in self.steps[:step + 1] for c in s]

    def old_classes(self, step: int) -> List[int]:
        return self.seen_classes(step - 1) if step > 0 else []

    def classes_per_step(self, step: int) -> List[int]:
        """Number of train ids added at each step up to ``step`` (the
        background of step 0 included, virtual or not)."""
        counts = [len(s) for s in self.steps[:step + 1]]
        if not self.has_background:
            counts[0] += 1
        return counts

    def num_seen(self, step: int) -> int:
        return sum(self.classes_per_step(step))

    def num_base(self) -> int:
        """Train ids of step 0 (background included): the 'base' classes."""
        return self.classes_per_step(0)[0]

    def train_ids(self, step: int) -> Dict[int, int]:
        """Dataset id -> train id for the classes seen up to ``step``."""
        offset = 0 if self.has_background else 1
        return {c: i + offset for i, c in enumerate(self.seen_classes(step))}

    def seen_class_names(self, step: int) -> List[str]:
        names = [self.class_names[c] for c in self.seen_classes(step)]
        return names if self.has_background else ['background'] + names

    def label_lut(self, step: int, split: str) -> np.ndarray:
        """Look-up table from dataset label values to train ids.

        ``split='train'``: the step's new classes keep their train ids; old
        and future classes become background (0). ``split='test'``: every
        seen class keeps its train id, unseen classes become background.
        With ``unseen='ignore'`` future classes become 255 instead of 0 (in
        both splits). 255 stays 255; values the dataset does not have map to
        ``INVALID``.
        """
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        lut = np.full(256, INVALID, dtype=np.int16)
        lut[:self.num_dataset_classes] = (
            IGNORE_INDEX if self.unseen == 'ignore' else 0)
        lut[self.seen_classes(step)] = 0
        lut[IGNORE_INDEX] = IGNORE_INDEX
        ids = self.train_ids(step)
        keep = ids if split == 'test' else {
            c: ids[c] for c in self.new_classes(step)}
        for c, t in keep.items():
            lut[c] = t
        return lut

    def is_selected(self, image_classes: Sequence[int], step: int) -> bool:
        """Whether an image with these dataset classes is in the training
        set of ``step`` (MiB's rule: at least one new foreground class;
        disjoint also requires no future class)."""
        fg = set(image_classes) - {IGNORE_INDEX}
        if self.has_background:
            fg.discard(0)
        new = set(self.new_classes(step)) - ({0} if self.has_background
                                             else set())
        if not fg & new:
            return False
        if self.setting == 'disjoint':
            allowed = set(self.seen_classes(step))
            return fg <= allowed
        return True

    def to_dict(self) -> dict:
        out = dict(dataset=self.dataset, task=self.task,
                   setting=self.setting,
                   steps=[list(s) for s in self.steps])
        if self.unseen != 'background':  # the default is left implicit
            out['unseen'] = self.unseen
        return out


def build_protocol(dataset: str,
                   task: str,
                   setting: str = 'overlap',
                   steps: Optional[Sequence[Sequence[int]]] = None,
                   order_seed: Optional[int] = None,
                   class_names: Sequence[str] = (),
                   unseen: str = 'background') -> Protocol:
    """Build a :class:`Protocol` from its name, or from a custom order.

    Args:
        dataset (str): 'voc', 'ade' or 'cityscapes'.
        task (str): a task of ``TASKS[dataset]``; ignored when ``steps``
            is given (then it only names the protocol).
        setting (str): 'overlap' or 'disjoint'.
        steps (list[list[int]], optional): a custom order of dataset ids.
        order_seed (int, optional): shuffle the non-background classes with
            this seed before splitting them as ``task`` says.
        class_names (list[str]): the dataset's class names.
        unseen (str): 'background' (default) or 'ignore': what pixels of
            classes not seen yet at a step become.
    """
    if dataset not in DATASET_INFO:
        raise ValueError(f'incremental.dataset: unknown dataset {dataset!r}, '
                         f'expected one of {sorted(DATASET_INFO)}')
    if setting not in SETTINGS:
        raise ValueError(f'incremental.setting: unknown setting {setting!r}, '
                         f'expected one of {list(SETTINGS)}')
    if unseen not in UNSEEN:
        raise ValueError(f'incremental.unseen: unknown value {unseen!r}, '
                         f'expected one of {list(UNSEEN)}')
    info = DATASET_INFO[dataset]
    n = info['num_classes']
    if steps is None:
        if task not in TASKS[dataset]:
            raise ValueError(
                f'incremental.task: unknown task {task!r} for {dataset}, '
                f'expected one of {sorted(TASKS[dataset])} or custom steps')
        num_base, num_inc = TASKS[dataset][task]
        head = [0] if info['background'] else []
        fg = list(range(1 if info['background'] else 0, n))
        if order_seed is not None:
            fg = [int(c) for c in np.random.RandomState(order_seed)
                  .permutation(fg)]
        steps = _split(fg, num_base, num_inc, head)
    if not isinstance(steps, (list, tuple)):
        raise ValueError('incremental.steps: expected a list of steps (lists '
                         f'of class ids), got {steps!r}')
    for i, s in enumerate(steps):
        if not isinstance(s, (list, tuple)):
            raise ValueError(f'incremental.steps: step {i} must be a list '
                             f'of class ids, got {s!r}')
    steps = tuple(tuple(_class_id(c) for c in s) for s in steps)
    _validate_steps(steps, dataset)
    if class_names and len(class_names) != n:
        raise ValueError(f'{dataset} has {n} classes but {len(class_names)} '
                         'class names were given')
    names = tuple(class_names) or tuple(f'class_{i}' for i in range(n))
    return Protocol(dataset, task, setting, steps, names, unseen)


def _class_id(c) -> int:
    """A class id of ``incremental.steps``: an int (numpy's too), not a
    float or a string that ``int()`` would silently turn into one."""
    if isinstance(c, (bool, np.bool_)) or \
            not isinstance(c, (int, np.integer)):
        raise ValueError(f'incremental.steps: class ids must be integers, '
                         f'got {c!r} ({type(c).__name__})')
    return int(c)


def _validate_steps(steps, dataset: str) -> None:
    info = DATASET_INFO[dataset]
    n = info['num_classes']
    if not steps or any(len(s) == 0 for s in steps):
        raise ValueError('incremental.steps: every step needs at least one '
                         f'class, got {[list(s) for s in steps]}')
    flat = [c for s in steps for c in s]
    bad = sorted({c for c in flat if not 0 <= c < n})
    if bad:
        raise ValueError(f'incremental.steps: class ids {bad} are outside '
                         f'{dataset} (0..{n - 1})')
    dup = sorted({c for c in flat if flat.count(c) > 1})
    if dup:
        raise ValueError(f'incremental.steps: class ids {dup} appear in '
                         'more than one step')
    missing = sorted(set(range(n)) - set(flat))
    if missing:
        raise ValueError(f'incremental.steps: class ids {missing} of '
                         f'{dataset} are in no step')
    if info['background'] and 0 not in steps[0]:
        raise ValueError('incremental.steps: background (0) must be learned '
                         'in step 0')
