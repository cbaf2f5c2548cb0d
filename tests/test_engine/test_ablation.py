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
