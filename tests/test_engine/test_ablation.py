import pytest

from cisseg.engine.ablation import (ABLATION_PRESETS, ablation_table,
                                    components, parse_variants)


def _run(base, inc, all_):
    return dict(steps=[dict(step=0, mIoU_base=90.0, mIoU_inc=None,
                            mIoU_all=90.0),
                       dict(step=1, mIoU_base=base, mIoU_inc=inc,
                            mIoU_all=all_)])


def test_presets_switch_one_component_each():
    assert ABLATION_PRESETS['no_ocfm'] == ['model.ocfm_loss=None']
    assert components('no_sad') == dict(PR=True, BPR=True, OCFM=True,
                                        SAD=False)
    assert all(components('full').values())


def test_table_contributions():
    table = ablation_table({'full': _run(80.0, 50.0, 73.0),
                            'no_pr': _run(76.0, 30.0, 65.5)})
    rows = table.splitlines()
    assert rows[2].startswith('| full | ✓ | ✓ | ✓ | ✓ | 80.0 | 50.0 | 73.0')
    assert rows[3] == ('| no_pr | – | ✓ | ✓ | ✓ | 76.0 | 30.0 | 65.5 | '
                       '-7.5 |')


def test_unknown_variant():
    with pytest.raises(ValueError, match="unknown \\['no_xyz'\\]"):
        parse_variants(['full', 'no_xyz'])


def test_reuse_step0_copies_only_step0(tmp_path):
    import json
    import os
    from cisseg.engine.ablation import reuse_step0
    full = tmp_path / 'full'
    (full / 'step_0').mkdir(parents=True)
    (full / 'step_0' / 'iter_3.pth').write_bytes(b'x')
    (full / 'step_1').mkdir()
    data = dict(protocol=dict(steps=[[0], [1]]),
                steps=[dict(step=0, checkpoint='step_0/iter_3.pth'),
                       dict(step=1, checkpoint='step_1/iter_2.pth')])
    (full / 'metrics.json').write_text(json.dumps(data))
    var = tmp_path / 'no_sad'
    assert reuse_step0(str(full), str(var)) is True
    copied = json.loads((var / 'metrics.json').read_text())
    assert [e['step'] for e in copied['steps']] == [0]
    assert (var / 'step_0' / 'iter_3.pth').read_bytes() == b'x'
    assert not os.path.exists(var / 'step_1')
    assert reuse_step0(str(full), str(var)) is False  # already started
    assert reuse_step0(str(tmp_path / 'none'), str(tmp_path / 'v2')) is False
