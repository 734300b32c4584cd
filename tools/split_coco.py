"""Split a COCO annotation file by images into search-train / search-val (DetNAS holds out 5,000
images of trainval35k to evaluate architectures during the search).

    python tools/split_coco.py --input datasets/coco/annotations/instances_train2014.json \
        datasets/coco/annotations/instances_valminusminival2014.json \
        --output-dir datasets/coco/annotations --num-val 5000 --seed 0
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from maskrcnn_benchmark.data.datasets.split_coco import split_coco  # noqa: E402

__all__ = ["split_coco", "main"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--input", required=True, nargs="+",
                        help="COCO annotation json(s) to split; several are merged first")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--num-val", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-name", default="search_train.json")
    parser.add_argument("--val-name", default="search_val.json")
    args = parser.parse_args(argv)
    try:
        train, val = split_coco(args.input, args.output_dir, args.num_val, seed=args.seed,
                                train_name=args.train_name, val_name=args.val_name)
    except (OSError, ValueError) as e:
        parser.exit(2, f"error: {e}\n")
    print(f"search-train: {train}\nsearch-val: {val}")


if __name__ == "__main__":
    main()
