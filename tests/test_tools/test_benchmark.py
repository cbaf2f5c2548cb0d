"""tools/benchmark.py's combination of --repeat rounds (not a timing)."""
import os.path as osp
import re

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


def test_profile_writes_iterations_and_counting_pass(bench, tmp_path):
    # a tiny run (not a timing): STAR-Basic's training iterations and its
    # counting pass are profiled into two files next to --out
    out = tmp_path / 'b.json'
    assert bench.main([
        '--model', 'r18-tiny', '--crop', '64', '--batch', '2', '--iters',
        '2', '--warmup', '1', '--threads', '1', '--methods', 'star-basic',
        '--epoch-images', '6', '--profile', '1', '--out', str(out),
        '--device', 'cpu']) == 0
    iters = (tmp_path / 'b.star-basic.profile.txt').read_text()
    assert iters.startswith('1 training iterations of star-basic\n')
    assert 'convolution_backward' in iters
    passed = (tmp_path / 'b.star-basic.pass-profile.txt').read_text()
    assert passed.startswith('counting pass of star-basic: 3 batches in ')
    title = passed.splitlines()[0]
    assert re.search(r'waiting for the loader \d+\.\d{3} s$', title)
    # the old model's forward: no backward
    assert 'aten::conv2d' in passed and 'backward' not in passed
