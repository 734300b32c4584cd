"""Write the tiny generated classification set (ImageFolder layout) that stands in for ImageNet; see
maskrcnn_benchmark/data/datasets/synthetic_classification.py.

    python tools/make_classification_dataset.py --output-dir datasets/tiny_cls --num-classes 10 \
        --train-per-class 100 --val-per-class 20 --image-size 32 --seed 0
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from maskrcnn_benchmark.data.datasets.synthetic_classification import (  # noqa: E402
    make_classification_dataset,
)

__all__ = ["make_classification_dataset", "main"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--output-dir", required=True, help="e.g. datasets/tiny_cls")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--train-per-class", type=int, default=100)
    parser.add_argument("--val-per-class", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = make_classification_dataset(
        args.output_dir,
        num_classes=args.num_classes,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        image_size=args.image_size,
        seed=args.seed,
    )
    print(f"{len(names)} classes written to {args.output_dir}/{{train,val}}")


if __name__ == "__main__":
    main()
