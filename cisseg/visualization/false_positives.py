"""False-positive maps of an incremental step: which wrong pixels are new
classes predicted over old ones.

At step t the train ids ``0 .. num_old - 1`` are the old classes (seen
before t, background 0 included) and ``num_old ..`` the classes new at t.
Every wrong pixel (prediction != ground truth, ground truth not ignored) is
of exactly one kind:

- ``new_over_old``: a new class predicted where the ground truth is an old
  foreground class (the forgetting that a bias toward new classes causes);
- ``new_over_bg``: a new class predicted where the ground truth is
  background (0);
- ``other``: any other error (an old class predicted anywhere wrong, or a
  new class predicted over another new class).

The counts also report ``bg_over_old``, the part of ``other`` where
background is predicted over an old foreground class: fine-tuning forgets
old classes mostly this way, since their pixels are labelled background in
the new step's training images.

All functions work on numpy arrays of train ids.
"""
import os
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

FP_KINDS = ('new_over_old', 'new_over_bg', 'other')
FP_KIND_LABELS = {
    'new_over_old': 'new class over old class',
    'new_over_bg': 'new class over background',
    'other': 'other error',
}
# Values of a false-positive map: 0 correct, 1..3 the kinds in FP_KINDS
# order, 255 ignored.
FP_CORRECT = 0
FP_IGNORE = 255
# RGB colour of each map value.
FP_COLORS = {
    FP_CORRECT: (40, 40, 40),
    1: (230, 25, 75),  # new over old: red
    2: (255, 190, 0),  # new over background: amber
    3: (0, 130, 200),  # other: blue
    FP_IGNORE: (255, 255, 255),
}


def false_positive_map(pred: np.ndarray,
                       gt: np.ndarray,
                       num_old: int,
                       ignore_index: int = 255) -> np.ndarray:
    """Classify each pixel as correct, ignored or one of the error kinds.

    Args:
        pred (np.ndarray): predicted train ids, shape (H, W).
        gt (np.ndarray): ground-truth train ids, shape (H, W);
            ``ignore_index`` marks pixels without a label.
        num_old (int): number of train ids seen before this step
            (background included); 0 at step 0.
        ignore_index (int): the ignored label. Default: 255.

    Returns:
        np.ndarray: uint8 map of shape (H, W): 0 correct, 1 new over old,
        2 new over background, 3 other error, 255 ignored.
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise ValueError(f'false_positive_map: prediction of shape '
                         f'{pred.shape} and ground truth of shape {gt.shape} '
                         'differ')
    if num_old < 0:
        raise ValueError(f'false_positive_map: num_old must be >= 0, got '
                         f'{num_old}')
    valid = gt != ignore_index
    wrong = valid & (pred != gt)
    pred_new = pred >= num_old
    gt_old_fg = (gt >= 1) & (gt < num_old)
    out = np.full(gt.shape, FP_CORRECT, dtype=np.uint8)
    out[~valid] = FP_IGNORE
    out[wrong] = 3
    out[wrong & pred_new & (gt == 0)] = 2
    out[wrong & pred_new & gt_old_fg] = 1
    return out


def count_false_positives(pred: np.ndarray,
                          gt: np.ndarray,
                          num_old: int,
                          ignore_index: int = 255) -> Dict[str, int]:
    """Pixel counts of one image: each error kind, ``bg_over_old`` (the part
    of ``other`` where background is predicted over an old foreground
    class), ``correct`` and ``valid`` (labelled pixels).

    Args:
        pred (np.ndarray): predicted train ids, shape (H, W).
        gt (np.ndarray): ground-truth train ids, shape (H, W).
        num_old (int): number of train ids seen before this step.
        ignore_index (int): the ignored label. Default: 255.

    Returns:
        dict[str, int]: keys ``new_over_old``, ``new_over_bg``, ``other``,
        ``bg_over_old``, ``correct``, ``valid``.
    """
    fp = false_positive_map(pred, gt, num_old, ignore_index)
    hist = np.bincount(fp.ravel(), minlength=256)
    counts = {kind: int(hist[i + 1]) for i, kind in enumerate(FP_KINDS)}
    gt = np.asarray(gt)
    counts['bg_over_old'] = int(
        ((fp == 3) & (np.asarray(pred) == 0) & (gt >= 1) &
         (gt < num_old)).sum())
    counts['correct'] = int(hist[FP_CORRECT])
    counts['valid'] = int(fp.size - hist[FP_IGNORE])
    return counts


def false_positive_shares(counts: Dict[str, int]) -> Dict[str, float]:
    """Share (0..1) of each error kind (and of ``bg_over_old``) among all
    wrong pixels, and ``error_rate``: wrong pixels / labelled pixels.

    Args:
        counts (dict[str, int]): as returned by :func:`count_false_positives`
            or :func:`accumulate_false_positives`.

    Returns:
        dict[str, float]: the kinds of :data:`FP_KINDS` and ``bg_over_old``
        (0 each when there is no error) and ``error_rate``.
    """
    errors = sum(counts[k] for k in FP_KINDS)
    shares = {k: counts[k] / errors if errors else 0.0
              for k in FP_KINDS + ('bg_over_old', )}
    shares['error_rate'] = errors / counts['valid'] if counts['valid'] else 0.0
    return shares


def accumulate_false_positives(
        pairs: Iterable[Tuple[np.ndarray, np.ndarray]],
        num_old: int,
        ignore_index: int = 255) -> Dict[str, object]:
    """Sum the per-kind pixel counts over a dataset.

    Args:
        pairs (Iterable[tuple]): ``(pred, gt)`` arrays of train ids, one
            pair per image, each of shape (H, W).
        num_old (int): number of train ids seen before this step.
        ignore_index (int): the ignored label. Default: 255.

    Returns:
        dict: ``counts`` (summed pixel counts, keys as in
        :func:`count_false_positives`), ``shares`` (as in
        :func:`false_positive_shares`) and ``num_images``.
    """
    total = {k: 0 for k in FP_KINDS + ('bg_over_old', 'correct', 'valid')}
    num = 0
    for pred, gt in pairs:
        for k, v in count_false_positives(pred, gt, num_old,
                                          ignore_index).items():
            total[k] += v
        num += 1
    return dict(counts=total, shares=false_positive_shares(total),
                num_images=num)


def render_false_positive_map(fp_map: np.ndarray) -> np.ndarray:
    """Colour a false-positive map with :data:`FP_COLORS`.

    Args:
        fp_map (np.ndarray): map of :func:`false_positive_map`, shape (H, W).

    Returns:
        np.ndarray: uint8 RGB image of shape (H, W, 3).
    """
    lut = np.zeros((256, 3), dtype=np.uint8)
    for value, color in FP_COLORS.items():
        lut[value] = color
    return lut[np.asarray(fp_map, dtype=np.uint8)]


def colorize_labels(label: np.ndarray,
                    palette: Sequence[Sequence[int]],
                    ignore_index: int = 255) -> np.ndarray:
    """Colour a map of train ids with the dataset's palette (ignored pixels
    white, ids outside the palette black).

    Args:
        label (np.ndarray): train ids, shape (H, W).
        palette (Sequence): RGB colour of each train id.
        ignore_index (int): the ignored label. Default: 255.

    Returns:
        np.ndarray: uint8 RGB image of shape (H, W, 3).
    """
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[:len(palette)] = np.asarray(palette, dtype=np.uint8)[:256]
    lut[ignore_index] = (255, 255, 255)
    return lut[np.asarray(label, dtype=np.uint8)]


def render_panel(image: np.ndarray,
                 gt: np.ndarray,
                 pred: np.ndarray,
                 num_old: int,
                 palette: Sequence[Sequence[int]],
                 out_file: str,
                 title: Optional[str] = None,
                 class_names: Optional[Sequence[str]] = None,
                 ignore_index: int = 255,
                 panel_inches: float = 2.2,
                 dpi: int = 80) -> str:
    """Save a PNG: image | ground truth | prediction | false-positive map,
    with a legend of the error kinds (and of the classes present).

    Args:
        image (np.ndarray): RGB image, shape (H, W, 3), uint8.
        gt (np.ndarray): ground-truth train ids, shape (H, W).
        pred (np.ndarray): predicted train ids, shape (H, W).
        num_old (int): number of train ids seen before this step.
        palette (Sequence): RGB colour of each train id.
        out_file (str): the PNG to write.
        title (str, optional): the figure's title.
        class_names (Sequence[str], optional): names of the train ids, for
            a legend of the classes in ``gt`` and ``pred``.
        ignore_index (int): the ignored label. Default: 255.
        panel_inches (float): size of each panel. Default: 2.2.
        dpi (int): resolution of the PNG. Default: 80.

    Returns:
        str: ``out_file``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fp = false_positive_map(pred, gt, num_old, ignore_index)
    counts = count_false_positives(pred, gt, num_old, ignore_index)
    panels = [('image', image),
              ('ground truth', colorize_labels(gt, palette, ignore_index)),
              ('prediction', colorize_labels(pred, palette, ignore_index)),
              ('false positives', render_false_positive_map(fp))]
    fig, axes = plt.subplots(1, 4, figsize=(4 * panel_inches,
                                            panel_inches + 0.9))
    for ax, (name, img) in zip(axes, panels):
        ax.imshow(img, interpolation='nearest')
        ax.set_title(name, fontsize=9)
        ax.axis('off')
    handles = [Patch(color=np.array(FP_COLORS[i + 1]) / 255,
                     label=f'{FP_KIND_LABELS[k]} ({counts[k]} px)')
               for i, k in enumerate(FP_KINDS)]
    handles += [Patch(color=np.array(FP_COLORS[FP_CORRECT]) / 255,
                      label=f"correct ({counts['correct']} px)"),
                Patch(facecolor=np.array(FP_COLORS[FP_IGNORE]) / 255,
                      edgecolor='0.6', label='ignored (255)')]
    if class_names is not None:
        present = np.union1d(np.unique(gt), np.unique(pred))
        for c in present[present != ignore_index]:
            if c < len(class_names) and c < len(palette):
                tag = 'new' if c >= num_old else 'old'
                handles.append(Patch(color=np.array(palette[c]) / 255,
                                     label=f'{class_names[c]} ({tag})'))
    fig.legend(handles=handles, loc='lower center', fontsize=7,
               ncol=min(len(handles), 4), frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    rows = 1 + (len(handles) - 1) // 4
    fig.tight_layout(rect=(0, 0.06 * rows, 1, 1))
    folder = osp.dirname(osp.abspath(out_file))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(out_file, dpi=dpi)
    plt.close(fig)
    return out_file


def shares_table(results: Dict[str, Dict[str, object]]) -> str:
    """Markdown table of the share of each error kind (and of background
    predicted over old classes, a part of 'other'), one row per entry.

    Args:
        results (dict): row name (e.g. 'finetune step 1') -> the dict of
            :func:`accumulate_false_positives`.

    Returns:
        str: the table (shares in % of wrong pixels; error rate in % of
        labelled pixels).
    """
    lines = ['| run | images | error px | error rate | ' +
             ' | '.join(FP_KIND_LABELS[k] for k in FP_KINDS) +
             ' | (other: background over old) |',
             '|---|---|---|---|' + '---|' * (len(FP_KINDS) + 1)]
    for name, res in results.items():
        counts, shares = res['counts'], res['shares']
        errors = sum(counts[k] for k in FP_KINDS)
        lines.append(f"| {name} | {res['num_images']} | {errors} | "
                     f"{100 * shares['error_rate']:.1f}% | " +
                     ' | '.join(f'{100 * shares[k]:.1f}%' for k in FP_KINDS)
                     + f" | {100 * shares['bg_over_old']:.1f}% |")
    return '\n'.join(lines)


def plot_shares(results: Dict[str, Dict[str, object]],
                out_file: str,
                title: Optional[str] = None,
                of: str = 'errors',
                dpi: int = 80) -> str:
    """Bar chart of the error kinds' shares: one group of bars per entry
    (e.g. per step), one bar per kind; the part of 'other' where background
    is predicted over old classes is hatched.

    Args:
        results (dict): group name -> the dict of
            :func:`accumulate_false_positives`.
        out_file (str): the PNG to write.
        title (str, optional): the figure's title.
        of (str): 'errors' (bars in % of wrong pixels, the kinds sum to
            100) or 'pixels' (in % of labelled pixels, the kinds sum to the
            error rate). Default: 'errors'.
        dpi (int): resolution of the PNG. Default: 80.

    Returns:
        str: ``out_file``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if of not in ('errors', 'pixels'):
        raise ValueError(f"plot_shares: of must be 'errors' or 'pixels', "
                         f'got {of!r}')

    def value(name: str, kind: str) -> float:
        shares = results[name]['shares']
        scale = shares['error_rate'] if of == 'pixels' else 1.0
        return 100 * shares.get(kind, 0) * scale

    names: List[str] = list(results)
    x = np.arange(len(names))
    width = 0.8 / len(FP_KINDS)
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(names), 3.4))
    for i, kind in enumerate(FP_KINDS):
        vals = [value(n, kind) for n in names]
        bars = ax.bar(x + (i - 1) * width, vals, width,
                      color=np.array(FP_COLORS[i + 1]) / 255,
                      label=FP_KIND_LABELS[kind])
        ax.bar_label(bars, fmt='%.0f' if of == 'errors' else '%.1f',
                     fontsize=7)
    sub = [value(n, 'bg_over_old') for n in names]
    if any(sub):
        ax.bar(x + width, sub, width, color=np.array(FP_COLORS[3]) / 255,
               hatch='///', edgecolor='white', linewidth=0,
               label='of which background over old')
    ax.set_xticks(x)
    ax.set_xticklabels(names, fontsize=8)
    if of == 'errors':
        ax.set_ylabel('share of wrong pixels (%)')
        ax.set_ylim(0, 108)
    else:
        ax.set_ylabel('share of labelled pixels (%)')
        ax.set_ylim(0, 1.12 * max([value(n, k) for n in names
                                   for k in FP_KINDS] + [1]))
    ax.grid(axis='y', alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc='lower center', ncol=2, fontsize=7,
               frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file, dpi=dpi)
    plt.close(fig)
    return out_file
