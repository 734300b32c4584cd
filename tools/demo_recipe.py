"""What the demo (tools/detnas_demo.py) trains and searches: its configs, the architecture released
with the paper, the FLOPs limit and the sizes of each scale."""

import os

# Imported by tools/detnas_demo.py, which has put the repository on sys.path.
from maskrcnn_benchmark.nas.arch import RELEASED_ARCHS, arch_to_str

SEARCH_CONFIG = "configs/quick_schedules/e2e_faster_rcnn_detnas_fpn_300M_search_shapes.yaml"
RETRAIN_CONFIG = "configs/quick_schedules/e2e_faster_rcnn_detnas_fpn_300M_shapes.yaml"
RELEASED = arch_to_str(RELEASED_ARCHS["FPN-300M"][1])  # DetNAS FPN-300M, as released with the paper
MAX_FLOPS = "300M"

# "default" fits the 20-minute budget of a 2-core CPU; "tiny" is the smoke test's size.
SCALES = {
    "default": dict(
        shapes_train=1200,
        shapes_minival=200,
        search_val=100,
        min_image=96,
        max_image=128,
        cls_classes=8,
        cls_train=100,
        cls_val=20,
        cls_image=48,
        cls_batch=32,
        cls_supernet_iters=300,
        cls_fixed_iters=100,
        cls_lr=0.02,
        det_batch=8,
        det_lr=0.04,
        # 1200 rather than 1600: two supernets of different path seeds agreed as well after 1200 as
        # after 1600 (Kendall tau 0.34 vs 0.37 on 51 architectures, one measurement each), and 1200
        # keeps the demo within 20 minutes on a slow hour (18m04s from a fresh clone; README).
        supernet_iters=1200,
        retrain_iters=400,
        retrain_seeds=2,
        bn_recal_images=64,
        seeds=3,
        population=6,
        generations=5,
        parents=3,
        mutants=2,
        crossovers=2,
        top_k=4,
        workers=2,
        drawn_images=4,
    ),
    "tiny": dict(
        shapes_train=40,
        shapes_minival=8,
        search_val=8,
        min_image=64,
        max_image=64,
        cls_classes=4,
        cls_train=8,
        cls_val=4,
        cls_image=32,
        cls_batch=8,
        cls_supernet_iters=4,
        cls_fixed_iters=4,
        cls_lr=0.02,
        det_batch=4,
        det_lr=0.02,
        supernet_iters=6,
        retrain_iters=6,
        retrain_seeds=2,
        bn_recal_images=8,
        seeds=2,
        population=3,
        generations=2,
        parents=2,
        mutants=1,
        crossovers=0,
        top_k=2,
        workers=2,
        drawn_images=2,
    ),
}


def make_demo_data(datasets, s, seed):
    """The shapes detection set and the classification set of scale `s` under `datasets`; a COMPLETE
    marker last, so that a cut-off run makes them again."""
    from maskrcnn_benchmark.data.datasets.synthetic_classification import make_classification_dataset
    from maskrcnn_benchmark.data.datasets.synthetic_shapes import make_shapes_dataset

    shapes = os.path.join(datasets, "shapes")
    paths = make_shapes_dataset(
        shapes,
        num_train=s["shapes_train"],
        num_minival=s["shapes_minival"],
        num_search_val=s["search_val"],
        min_image_size=s["min_image"],
        max_image_size=s["max_image"],
        seed=seed,
    )
    print("shapes:", ", ".join(f"{k} -> {v}" for k, v in paths.items()))
    make_classification_dataset(
        os.path.join(datasets, "tiny_cls"),
        num_classes=s["cls_classes"],
        train_per_class=s["cls_train"],
        val_per_class=s["cls_val"],
        image_size=s["cls_image"],
        seed=seed,
    )
    print("classification set:", os.path.join(datasets, "tiny_cls"))
    open(os.path.join(datasets, "COMPLETE"), "w").close()
