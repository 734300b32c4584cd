"""Split a COCO annotation file by images into search-train / search-val (DetNAS holds out 5,000
images of trainval35k to evaluate architectures during the search).

    python tools/split_coco.py --input datasets/coco/annotations/instances_train2014.json \
        datasets/coco/annotations/instances_valminusminival2014.json \
        --output-dir datasets/coco/annotations --num-val 5000 --seed 0

Any registered dataset (see README "Your own dataset") can be split by name instead, and the two
halves registered in a catalog file as <name>_search_train and <name>_search_val:

    python tools/split_coco.py --dataset tiles_train --catalog my_catalog.yaml \
        --output-dir my_data/search --num-val 10 --register my_catalog.yaml
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from maskrcnn_benchmark.data.datasets.split_coco import register_split, split_coco  # noqa: E402

__all__ = ["split_coco", "main"]


def _registered(name, catalog):
    from maskrcnn_benchmark.config.paths_catalog import DatasetCatalog, catalog_files

    args = DatasetCatalog.get(name, catalog_files(catalog))["args"]
    return args["ann_file"], args["root"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", nargs="+", help="COCO annotation json(s) to split; several are merged first")
    source.add_argument(
        "--dataset", help="a registered dataset name (built-in, catalog file or $DETNAS_DATASET_CATALOG) to split"
    )
    parser.add_argument("--catalog", default="", help="dataset catalog yaml for --dataset")
    parser.add_argument(
        "--register",
        default="",
        metavar="CATALOG",
        help="with --dataset: add <dataset>_search_train/_search_val to this catalog",
    )
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--num-val", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-name", default="search_train.json")
    parser.add_argument("--val-name", default="search_val.json")
    args = parser.parse_args(argv)
    if args.register and not args.dataset:
        parser.error("--register needs --dataset (the image folders come from its registration)")
    try:
        roots = None
        inputs = args.input
        if args.dataset:
            ann_file, roots = _registered(args.dataset, args.catalog)
            inputs = [ann_file]
        train, val = split_coco(
            inputs, args.output_dir, args.num_val, seed=args.seed, train_name=args.train_name, val_name=args.val_name
        )
        print(f"search-train: {train}\nsearch-val: {val}")
        if args.register:
            names = register_split(args.register, args.dataset, train, val, roots)
            print(f"registered {names[0]} and {names[1]} in {args.register}")
    except (OSError, ValueError, KeyError) as e:
        parser.exit(2, f"error: {e.args[0] if isinstance(e, KeyError) else e}\n")


if __name__ == "__main__":
    main()
