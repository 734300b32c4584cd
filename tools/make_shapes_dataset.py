"""Write the synthetic shapes detection dataset (COCO format); see
maskrcnn_benchmark/data/datasets/synthetic_shapes.py for what it contains.

    python tools/make_shapes_dataset.py --output-dir datasets/shapes --num-train 2000 \
        --num-minival 200 --num-search-val 200 --seed 0
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from maskrcnn_benchmark.data.datasets.synthetic_shapes import STYLES, make_shapes_dataset  # noqa: E402

__all__ = ["make_shapes_dataset", "main"]


def image_size_arg(text):
    try:
        sides = [int(v) for v in text.lower().split("x")]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected a side or WIDTHxHEIGHT (e.g. 200x120), got {text!r}")
    return sides[0] if len(sides) == 1 else tuple(sides)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--output-dir", required=True, help="e.g. datasets/shapes")
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--num-minival", type=int, default=200)
    parser.add_argument(
        "--num-search-val", type=int, default=0, help="also split train into search_train.json / search_val.json"
    )
    parser.add_argument(
        "--image-size",
        type=image_size_arg,
        default=None,
        help="all images this size: a side (square) or WIDTHxHEIGHT, e.g. 200x120",
    )
    parser.add_argument("--min-image-size", type=int, default=96)
    parser.add_argument("--max-image-size", type=int, default=160)
    parser.add_argument("--max-objects", type=int, default=4)
    parser.add_argument("--image-format", choices=("jpg", "png"), default="jpg")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--style",
        choices=STYLES,
        default="filled",
        help="filled shapes, or outlines among clutter strokes (block choice matters more)",
    )
    args = parser.parse_args(argv)
    paths = make_shapes_dataset(
        args.output_dir,
        num_train=args.num_train,
        num_minival=args.num_minival,
        num_search_val=args.num_search_val,
        image_size=args.image_size,
        min_image_size=args.min_image_size,
        max_image_size=args.max_image_size,
        max_objects=args.max_objects,
        seed=args.seed,
        image_format=args.image_format,
        style=args.style,
    )
    for split, path in paths.items():
        print(f"{split}: {path}")


if __name__ == "__main__":
    main()
