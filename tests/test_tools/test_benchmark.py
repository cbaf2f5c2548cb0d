"""tools/benchmark.py's combination of --repeat rounds (not a timing)."""
import os.path as osp

import pytest

from tests.conftest import REPO, load_script


@pytest.fixture(scope='module')
def bench():
    return load_script(osp.join(REPO, 'tools', 'benchmark.py'))


def _round(ft, star, tag):
    return [dict(method='finetune', iter_s=ft, tag=tag),
            dict(method='star-basic', iter_s=star, tag=tag)]


def test_rounds_give_the_median_round_and_the_median_paired_ratio(bench):
    # fine-tuning 1.0 / 1.4 / 1.2 s, STAR 1.3 / 1.5 / 1.8 s: paired ratios
    # 1.3, 1.0714, 1.5 -> median 1.3; the ratio of the median times
    # (1.5 / 1.2 = 1.25) is not what is reported
    out = bench.combine_rounds([_round(1.0, 1.3, 'a'), _round(1.4, 1.5, 'b'),
                                _round(1.2, 1.8, 'c')])
    ft, star = out
    assert ft['tag'] == 'c' and ft['iter_s'] == 1.2
    assert ft['iter_s_rounds'] == [1.0, 1.4, 1.2] and ft['x_ft'] == 1.0
    assert star['tag'] == 'b' and star['iter_s'] == 1.5
    assert star['x_ft'] == pytest.approx(1.3)


def test_even_rounds_take_the_lower_median_round(bench):
    out = bench.combine_rounds([_round(2.0, 2.2, 'a'), _round(1.0, 1.3, 'b')])
    assert [r['tag'] for r in out] == ['b', 'b']
    # ratios 1.1 and 1.3: their median
    assert out[1]['x_ft'] == pytest.approx(1.2)


def test_one_round_is_the_plain_ratio(bench):
    (ft, star) = bench.combine_rounds([_round(1.25, 1.5, 'a')])
    assert star['x_ft'] == pytest.approx(1.2) and ft['iter_s_rounds'] == \
        [1.25]


def test_without_finetuning_no_ratio(bench):
    out = bench.combine_rounds([[dict(method='star-basic', iter_s=1.0)]])
    assert 'x_ft' not in out[0]


def test_repeat_must_be_positive(bench):
    with pytest.raises(ValueError, match='--repeat'):
        bench.main(['--repeat', '0', '--device', 'cpu'])
