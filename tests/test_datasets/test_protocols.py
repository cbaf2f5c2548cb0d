import pytest

from cisseg.datasets import TASKS, build_protocol

VOC_TABLE = {
    '19-1': [list(range(20)), [20]],
    '15-5': [list(range(16)), [16, 17, 18, 19, 20]],
    '15-1': [list(range(16)), [16], [17], [18], [19], [20]],
    '10-1': [list(range(11))] + [[c] for c in range(11, 21)],
    '5-3': [list(range(6)), [6, 7, 8], [9, 10, 11], [12, 13, 14],
            [15, 16, 17], [18, 19, 20]],
    '2-2': [[0, 1, 2]] + [[c, c + 1] for c in range(3, 21, 2)],
    'offline': [list(range(21))],
}


@pytest.mark.parametrize('task,steps', sorted(VOC_TABLE.items()))
def test_voc_tables(task, steps):
    p = build_protocol('voc', task)
    assert [list(s) for s in p.steps] == steps


@pytest.mark.parametrize('task,sizes', [
    ('100-50', [101, 50]), ('100-10', [101] + [10] * 5),
    ('50-50', [51, 50, 50]), ('100-5', [101] + [5] * 10)])
def test_ade_tables(task, sizes):
    p = build_protocol('ade', task)
    assert [len(s) for s in p.steps] == sizes
    assert p.steps[0][0] == 0 and p.steps[-1][-1] == 150


def test_cityscapes_has_virtual_background():
    p = build_protocol('cityscapes', '13-6')
    assert [len(s) for s in p.steps] == [13, 6]
    assert p.classes_per_step(1) == [14, 6]  # virtual background in step 0
    assert p.train_ids(0)[0] == 1
    lut = p.label_lut(0, 'train')
    assert lut[0] == 1 and lut[13] == 0 and lut[255] == 255


def test_all_documented_tasks_build():
    for dataset, tasks in TASKS.items():
        for task in tasks:
            p = build_protocol(dataset, task)
            flat = sorted(c for s in p.steps for c in s)
            assert flat == list(range(p.num_dataset_classes))


def test_label_luts_15_1():
    p = build_protocol('voc', '15-1')
    train = p.label_lut(2, 'train')
    # step 2 learns class 17 only: everything else is background
    assert train[17] == 17
    assert all(train[c] == 0 for c in range(21) if c != 17)
    assert train[255] == 255 and train[21] == -1 and train[254] == -1
    test = p.label_lut(2, 'test')
    assert list(test[:18]) == list(range(18))
    assert list(test[18:21]) == [0, 0, 0]


def test_custom_order_remaps_train_ids():
    p = build_protocol('voc', 'custom',
                       steps=[[0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                               13, 14], [19, 15, 16, 17, 18]])
    test = p.label_lut(1, 'test')
    assert test[20] == 1 and test[1] == 2 and test[19] == 16
    train = p.label_lut(1, 'train')
    assert train[20] == 0 and train[15] == 17
    assert p.seen_class_names(0)[1] == 'class_20'


def test_shuffled_order_is_seeded():
    a = build_protocol('voc', '15-5', order_seed=3)
    b = build_protocol('voc', '15-5', order_seed=3)
    c = build_protocol('voc', '15-5', order_seed=4)
    assert a.steps == b.steps != c.steps
    assert a.steps[0][0] == 0


@pytest.mark.parametrize('kwargs,message', [
    (dict(dataset='voc', task='15-2'), "unknown task '15-2'"),
    (dict(dataset='coco', task='15-1'), "unknown dataset 'coco'"),
    (dict(dataset='voc', task='15-1', setting='mixed'), 'unknown setting'),
    (dict(dataset='voc', task='x', steps=[list(range(16)), [16, 21]] +
          [[17], [18], [19], [20]]), r'\[21\] are outside'),
    (dict(dataset='voc', task='x', steps=[list(range(16)), [15, 16, 17],
                                          [18, 19, 20]]),
     r'\[15\] appear in more than one'),
    (dict(dataset='voc', task='x', steps=[list(range(16)), [16, 17]]),
     r'\[18, 19, 20\] of voc are in no step'),
    (dict(dataset='voc', task='x', steps=[list(range(1, 16)), [0] +
                                          list(range(16, 21))]),
     'background'),
])
def test_bad_protocols(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_protocol(**kwargs)


@pytest.mark.parametrize('setting,classes,step,selected', [
    ('overlap', [0, 16], 1, True),
    ('overlap', [0, 3, 16, 255], 1, True),
    ('overlap', [0, 16, 19], 1, True),      # future class: overlapped keeps
    ('disjoint', [0, 16, 19], 1, False),    # ... disjoint drops
    ('disjoint', [0, 3, 16, 255], 1, True),
    ('overlap', [0, 3], 1, False),          # no new class
    ('overlap', [0, 255], 0, False),        # background only
    ('overlap', [0, 5, 18], 0, True),       # step 0 keeps future classes
    ('disjoint', [0, 5, 18], 0, False),
])
def test_image_selection_rule(setting, classes, step, selected):
    p = build_protocol('voc', '15-1', setting)
    assert p.is_selected(classes, step) is selected


def test_step_out_of_range():
    with pytest.raises(ValueError, match='step 6 is out of range'):
        build_protocol('voc', '15-1').new_classes(6)
