import os.path as osp

import cv2
import numpy as np
import pytest

from cisseg.visualization import (FP_COLORS, FP_KINDS,
                                  accumulate_false_positives, colorize_labels,
                                  count_false_positives, false_positive_map,
                                  false_positive_shares, plot_shares,
                                  render_false_positive_map, render_panel,
                                  shares_table)

# Step with old train ids 0 (background), 1, 2 and new train ids 3, 4.
NUM_OLD = 3
GT = np.array([[0, 0, 1, 1],
               [0, 255, 1, 2],
               [3, 3, 2, 2],
               [4, 255, 0, 0]], dtype=np.uint8)
PRED = np.array([[0, 3, 1, 4],
                 [0, 3, 0, 3],
                 [4, 3, 2, 1],
                 [3, 1, 2, 4]], dtype=np.uint8)
# Worked out by hand, pixel by pixel:
# (0,1) gt 0 -> 3 new over bg     (0,3) gt 1 -> 4 new over old
# (1,2) gt 1 -> 0 other (bg over old)   (1,3) gt 2 -> 3 new over old
# (2,0) gt 3 -> 4 other (new over new)  (2,3) gt 2 -> 1 other (old over old)
# (3,0) gt 4 -> 3 other           (3,2) gt 0 -> 2 other (old over bg)
# (3,3) gt 0 -> 4 new over bg     (1,1), (3,1) ignored; 5 pixels correct.
EXPECTED_MAP = np.array([[0, 2, 0, 1],
                         [0, 255, 3, 1],
                         [3, 0, 0, 3],
                         [3, 255, 3, 2]], dtype=np.uint8)


def test_false_positive_map_by_hand():
    fp = false_positive_map(PRED, GT, NUM_OLD)
    assert fp.dtype == np.uint8
    np.testing.assert_array_equal(fp, EXPECTED_MAP)


def test_counts_by_hand():
    counts = count_false_positives(PRED, GT, NUM_OLD)
    assert counts == dict(new_over_old=2, new_over_bg=2, other=5,
                          bg_over_old=1, correct=5, valid=14)


def test_counts_at_step_0_have_no_old_classes():
    # num_old = 0: every class is new, nothing is "new over old"; the wrong
    # pixels on background (0,1), (3,2), (3,3) are new over background.
    counts = count_false_positives(PRED, GT, 0)
    assert counts == dict(new_over_old=0, new_over_bg=3, other=6,
                          bg_over_old=0, correct=5, valid=14)


def test_shares_by_hand():
    shares = false_positive_shares(count_false_positives(PRED, GT, NUM_OLD))
    assert shares['new_over_old'] == pytest.approx(2 / 9)
    assert shares['new_over_bg'] == pytest.approx(2 / 9)
    assert shares['other'] == pytest.approx(5 / 9)
    assert shares['bg_over_old'] == pytest.approx(1 / 9)
    assert shares['error_rate'] == pytest.approx(9 / 14)
    assert sum(shares[k] for k in FP_KINDS) == pytest.approx(1)


def test_accumulate_over_images():
    perfect = GT.copy()
    perfect[perfect == 255] = 0
    res = accumulate_false_positives(
        [(PRED, GT), (perfect, GT), (PRED, GT)], NUM_OLD)
    assert res['num_images'] == 3
    assert res['counts'] == dict(new_over_old=4, new_over_bg=4, other=10,
                                 bg_over_old=2, correct=5 + 14 + 5,
                                 valid=42)
    assert res['shares']['new_over_old'] == pytest.approx(4 / 18)
    assert res['shares']['error_rate'] == pytest.approx(18 / 42)


def test_no_error_gives_zero_shares():
    res = accumulate_false_positives([(GT, GT)], NUM_OLD)
    assert res['counts']['correct'] == res['counts']['valid'] == 14
    assert all(res['shares'][k] == 0 for k in FP_KINDS + ('error_rate', ))


def test_invalid_inputs():
    with pytest.raises(ValueError, match=r'prediction of shape \(4, 3\)'):
        false_positive_map(PRED[:, :3], GT, NUM_OLD)
    with pytest.raises(ValueError, match='num_old must be >= 0'):
        false_positive_map(PRED, GT, -1)


def test_render_map_colours():
    rgb = render_false_positive_map(EXPECTED_MAP)
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == FP_COLORS[0]  # correct
    assert tuple(rgb[0, 3]) == FP_COLORS[1] == (230, 25, 75)  # new/old
    assert tuple(rgb[0, 1]) == FP_COLORS[2]  # new over background
    assert tuple(rgb[1, 2]) == FP_COLORS[3]  # other
    assert tuple(rgb[1, 1]) == (255, 255, 255)  # ignored
    # the four kinds and the ignored colour are all different
    assert len({FP_COLORS[k] for k in (0, 1, 2, 3, 255)}) == 5


def test_colorize_labels():
    palette = [(0, 0, 0), (10, 20, 30), (40, 50, 60), (70, 80, 90),
               (100, 110, 120)]
    rgb = colorize_labels(GT, palette)
    assert rgb.shape == (4, 4, 3)
    assert tuple(rgb[0, 2]) == (10, 20, 30)
    assert tuple(rgb[3, 0]) == (100, 110, 120)
    assert tuple(rgb[1, 1]) == (255, 255, 255)


def test_render_panel_and_chart(tmp_path):
    palette = [(0, 0, 0), (128, 0, 0), (0, 128, 0), (0, 0, 128),
               (128, 128, 0)]
    image = np.zeros((4, 4, 3), np.uint8)
    out = render_panel(image, GT, PRED, NUM_OLD, palette,
                       str(tmp_path / 'sub' / 'panel.png'), title='t',
                       class_names=['background', 'a', 'b', 'c', 'd'])
    img = cv2.imread(out)
    assert img is not None and img.shape[1] > 2 * img.shape[0]
    # the red of "new over old" is drawn (BGR in cv2)
    assert (np.abs(img.astype(int) - (75, 25, 230)).sum(-1) < 30).any()

    res = accumulate_false_positives([(PRED, GT)], NUM_OLD)
    for of in ('errors', 'pixels'):
        chart = plot_shares({'step 1': res, 'step 2': res},
                            str(tmp_path / f'chart_{of}.png'), of=of)
        assert osp.getsize(chart) > 0 and cv2.imread(chart) is not None
    with pytest.raises(ValueError, match="'errors' or 'pixels'"):
        plot_shares({'s': res}, str(tmp_path / 'x.png'), of='bad')


def test_shares_table():
    res = accumulate_false_positives([(PRED, GT)], NUM_OLD)
    lines = shares_table({'ft step 1': res}).splitlines()
    assert len(lines) == 3
    # 9 errors of 14 labelled pixels: 2/9, 2/9, 5/9; bg over old 1/9
    assert lines[2] == ('| ft step 1 | 1 | 9 | 64.3% | 22.2% | 22.2% | '
                        '55.6% | 11.1% |')
