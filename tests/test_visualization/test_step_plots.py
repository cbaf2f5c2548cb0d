import json
import os
import os.path as osp

import cv2
import pytest

from cisseg.visualization import (comparison_table, load_run, plot_runs,
                                  seeds_table, steps_table)

PROTOCOL = dict(dataset='voc', task='15-5', setting='overlap',
                steps=[list(range(16)), list(range(16, 21))])


def write_run(folder, method, steps):
    os.makedirs(folder, exist_ok=True)
    entries = []
    for i, (base, inc, all_, h) in enumerate(steps):
        entries.append(dict(
            step=i, new_classes=PROTOCOL['steps'][i], mIoU_base=base,
            mIoU_inc=inc, mIoU_all=all_, hIoU=h))
    with open(osp.join(folder, 'metrics.json'), 'w') as f:
        json.dump(dict(protocol=dict(PROTOCOL, method=method),
                       steps=entries), f)
    return folder


@pytest.fixture
def two_runs(tmp_path):
    a = write_run(str(tmp_path / 'ft'), 'finetune',
                  [(80.0, None, 80.0, None), (60.0, 40.0, 55.24, 48.0)])
    b = write_run(str(tmp_path / 'star_run'), None,
                  [(80.0, None, 80.0, None), (20.0, 50.0, 27.14, 28.57)])
    return a, b


def test_load_run_names(two_runs):
    a, b = two_runs
    assert load_run(a)['name'] == 'finetune'
    # no method in the protocol: the folder's name
    assert load_run(b)['name'] == 'star_run'
    assert load_run(osp.join(a, 'metrics.json'))['name'] == 'finetune'


def test_comparison_table(two_runs):
    lines = comparison_table([load_run(d) for d in two_runs]).splitlines()
    assert len(lines) == 4
    # base kept: 60 / 80 = 75%, 20 / 80 = 25%
    assert lines[2] == ('| finetune | voc 15-5 overlap | 2/2 | 60.0 | 40.0 | '
                        '55.2 | 48.0 | 75.0% |')
    assert lines[3] == ('| star_run | voc 15-5 overlap | 2/2 | 20.0 | 50.0 | '
                        '27.1 | 28.6 | 25.0% |')


def test_seeds_table(tmp_path):
    runs = [load_run(write_run(str(tmp_path / f's{i}'), 'star', [
        (80.0, None, 80.0, None), (base, inc, all_, None)]))
            for i, (base, inc, all_) in enumerate(
                [(70.0, 30.0, 60.0), (76.0, 40.0, 67.0), (73.0, None, 66.1)])]
    runs.append(load_run(write_run(str(tmp_path / 'ft'), 'finetune', [
        (80.0, None, 80.0, None), (5.0, 10.0, 6.0, None)])))
    lines = seeds_table(runs).splitlines()
    assert len(lines) == 4
    # mean (min-max); inc. over the two runs that have it
    assert lines[2] == ('| star | voc 15-5 overlap | 3 | 73.0 (70.0-76.0) | '
                        '35.0 (30.0-40.0) | 64.4 (60.0-67.0) |')
    assert lines[3] == ('| finetune | voc 15-5 overlap | 1 | 5.0 (5.0-5.0) | '
                        '10.0 (10.0-10.0) | 6.0 (6.0-6.0) |')


def test_steps_table(two_runs):
    lines = steps_table(load_run(two_runs[0])).splitlines()
    assert lines[2] == '| 0 | 0-15 | 80.0 | - | 80.0 | - |'
    assert lines[3] == '| 1 | 16-20 | 60.0 | 40.0 | 55.2 | 48.0 |'


def test_plot_runs(two_runs, tmp_path):
    out = plot_runs([load_run(d) for d in two_runs],
                    str(tmp_path / 'steps.png'))
    assert osp.getsize(out) > 0
    img = cv2.imread(out)
    assert img is not None and img.shape[1] > img.shape[0]


def test_folder_without_metrics(tmp_path):
    with pytest.raises(FileNotFoundError, match='metrics.json: not found'):
        load_run(str(tmp_path))
    with open(tmp_path / 'metrics.json', 'w') as f:
        json.dump(dict(steps=[]), f)
    with pytest.raises(ValueError, match="needs 'protocol' and 'steps'"):
        load_run(str(tmp_path))


def test_storage_in_steps_table_and_plot(tmp_path):
    from cisseg.visualization.step_plots import format_bytes
    folder = write_run(str(tmp_path / 'm'), 'star_basic_m',
                       [(80.0, None, 80.0, None), (60.0, 40.0, 55.2, 48.0)])
    path = osp.join(folder, 'metrics.json')
    with open(path) as f:
        data = json.load(f)
    data['steps'][0].update(memory_images=50, memory_bytes=3 * 2**20,
                            replay_bytes=1536)
    data['steps'][1].update(memory_images=50, memory_bytes=5000)
    with open(path, 'w') as f:
        json.dump(data, f)
    lines = steps_table(load_run(folder)).splitlines()
    assert lines[0].endswith('| hIoU | memory images | memory | '
                             'prototypes |')
    assert lines[2] == '| 0 | 0-15 | 80.0 | - | 80.0 | - | 50 | 3.0 MiB | ' \
        '1.5 KiB |'
    assert lines[3].endswith('| 50 | 4.9 KiB | - |')
    assert [format_bytes(n) for n in (None, 812, 2048)] == \
        ['-', '812 B', '2.0 KiB']
    out = plot_runs([load_run(folder)], str(tmp_path / 'steps.png'))
    img = cv2.imread(out)
    assert img.shape[1] > 4.5 * img.shape[0]  # four panels (three: 3.75)


def test_a_run_keeps_its_colour_in_the_storage_panel(two_runs, tmp_path):
    """A run that stores nothing (first) and one that does: the second's
    line in the storage panel has its colour of the metric panels."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from cisseg.visualization.step_plots import draw_runs
    runs = [load_run(d) for d in two_runs]
    for step in runs[1]['steps']:
        step['replay_bytes'] = 2048
    fig = draw_runs(runs)
    panels = fig.axes
    assert len(panels) == 4
    colour = {line.get_label(): line.get_color()
              for line in panels[0].get_lines()}
    assert len(set(colour.values())) == 2
    (stored, ) = panels[3].get_lines()
    assert stored.get_label() == runs[1]['name']
    assert stored.get_color() == colour[runs[1]['name']]
    plt.close(fig)
