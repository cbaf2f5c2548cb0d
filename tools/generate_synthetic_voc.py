"""Write the synthetic "shapes" dataset in Pascal VOC 2012's layout.

    python tools/generate_synthetic_voc.py data/shapes_voc [--num-train 400]
"""
import argparse
import os.path as osp
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('root', nargs='?', default='data/shapes_voc')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--size', type=int, default=64)
    parser.add_argument('--max-objects', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args()
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from cisseg.datasets.synthetic import generate_synthetic_voc
    generate_synthetic_voc(args.root, args.num_train, args.num_val,
                           args.size, args.max_objects, args.seed,
                           args.overwrite)
    print(f'synthetic VOC-layout dataset in {args.root}')


if __name__ == '__main__':
    main()
