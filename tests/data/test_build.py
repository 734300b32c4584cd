import pytest
import torch

from maskrcnn_benchmark.config import load_config
from maskrcnn_benchmark.config.paths_catalog import DatasetCatalog
from maskrcnn_benchmark.data import build_dataset, make_data_loader, make_subset_loader
from maskrcnn_benchmark.data.build import _per_process
from maskrcnn_benchmark.data.collate_batch import BatchCollator
from maskrcnn_benchmark.data.datasets import COCODataset, ConcatDataset
from maskrcnn_benchmark.structures.bounding_box import BoxList
from maskrcnn_benchmark.structures.image_list import ImageList


def _cfg(*opts):
    return load_config(
        "",
        [
            "DATASETS.TRAIN",
            ("shapes_train",),
            "DATASETS.TEST",
            ("shapes_minival", "shapes_search_val"),
            "INPUT.MIN_SIZE_TRAIN",
            (64,),
            "INPUT.MAX_SIZE_TRAIN",
            100,
            "INPUT.MIN_SIZE_TEST",
            64,
            "INPUT.MAX_SIZE_TEST",
            100,
            "DATALOADER.NUM_WORKERS",
            0,
            "DATALOADER.SIZE_DIVISIBILITY",
            32,
            "SOLVER.IMS_PER_BATCH",
            4,
            "SOLVER.MAX_ITER",
            9,
            "TEST.IMS_PER_BATCH",
            3,
            *opts,
        ],
    )


def test_batch_collator():
    items = [
        (torch.ones(3, 5, 7), BoxList(torch.zeros(1, 4), (7, 5)), 4),
        (torch.ones(3, 9, 3), BoxList(torch.zeros(2, 4), (3, 9)), 1),
    ]
    images, targets, indices = BatchCollator(size_divisible=8)(items)
    assert isinstance(images, ImageList) and images.tensors.shape == (2, 3, 16, 8)
    assert images.image_sizes == [(5, 7), (9, 3)]
    assert isinstance(targets, tuple) and [len(t) for t in targets] == [1, 2]
    assert indices == (4, 1)


def test_build_dataset(shapes_env):
    (train,) = build_dataset(["shapes_train"], None, True, DatasetCatalog)
    assert isinstance(train, COCODataset) and len(train) == 24
    (both,) = build_dataset(["shapes_train", "shapes_minival"], None, True, DatasetCatalog)
    assert isinstance(both, ConcatDataset) and len(both) == 32
    tests = build_dataset(("shapes_minival", "shapes_search_val"), None, False, DatasetCatalog)
    assert [len(d) for d in tests] == [8, 6]
    with pytest.raises(ValueError, match="DATASETS.TRAIN"):
        build_dataset([], None, True, DatasetCatalog)
    with pytest.raises(KeyError, match="unknown dataset 'nope'"):
        build_dataset(["nope"], None, False, DatasetCatalog)


def test_train_loader(shapes_env):
    cfg = _cfg()
    loader = make_data_loader(cfg, is_train=True)
    assert len(loader) == 9
    batches = list(loader)
    assert len(batches) == 9
    dataset = loader.dataset
    for images, targets, indices in batches:
        assert isinstance(images, ImageList) and 1 <= len(indices) <= 4
        assert images.tensors.shape[-2] % 32 == 0 and images.tensors.shape[-1] % 32 == 0
        # Aspect grouping: one orientation per batch.
        infos = [dataset.get_img_info(i) for i in indices]
        assert len({info["height"] / info["width"] >= 1 for info in infos}) == 1
        for (h, w), t, info in zip(images.image_sizes, targets, infos):
            assert t.size == (w, h)
            # Shorter side 64, unless the longer would pass 100 (up to the rule's rounding).
            assert min(h, w) == 64 or 98 <= max(h, w) <= 101
            assert t.has_field("labels") and t.has_field("masks")
    # The first pass (24 images) uses every image once.
    first_pass = []
    for _, _, indices in batches:
        if len(first_pass) >= 24:
            break
        first_pass.extend(indices)
    assert sorted(first_pass) == list(range(24))


def test_train_loader_resumes_and_is_seeded(shapes_env):
    def order(start_iter, seed=0):
        cfg = _cfg("SEED", seed, "INPUT.HORIZONTAL_FLIP_PROB_TRAIN", 0.0)
        return [idx for _, _, idx in make_data_loader(cfg, is_train=True, start_iter=start_iter)]

    full = order(0)
    assert order(0) == full
    assert order(5) == full[5:]
    assert order(0, seed=1) != full


def test_train_loader_without_grouping_and_with_a_worker(shapes_env):
    cfg = _cfg("DATALOADER.ASPECT_RATIO_GROUPING", False, "DATALOADER.NUM_WORKERS", 1, "SOLVER.MAX_ITER", 3)
    batches = list(make_data_loader(cfg, is_train=True))
    assert [len(idx) for _, _, idx in batches] == [4, 4, 4]


def test_test_loaders(shapes_env):
    loaders = make_data_loader(_cfg(), is_train=False)
    assert isinstance(loaders, list) and len(loaders) == 2
    for loader, n in zip(loaders, (8, 6)):
        indices = [i for _, _, idx in loader for i in idx]
        assert indices == list(range(n))  # sequential, every image once
        images, targets, idx = next(iter(loader))
        assert len(idx) == 3


def test_images_per_batch_must_divide():
    assert _per_process(16, 8, "SOLVER.IMS_PER_BATCH") == 2
    with pytest.raises(ValueError, match=r"SOLVER.IMS_PER_BATCH \(6\) must be divisible by .* \(4\)"):
        _per_process(6, 4, "SOLVER.IMS_PER_BATCH")


def test_distributed_needs_initialised_process_group(shapes_env):
    with pytest.raises(RuntimeError, match="initialised"):
        make_data_loader(_cfg(), is_train=True, is_distributed=True)


def test_unknown_catalog_module():
    cfg = _cfg("PATHS_CATALOG", "no.such.module")
    with pytest.raises(ImportError, match="no.such.module"):
        make_data_loader(cfg, is_train=False)


def test_subset_loader(shapes_env):
    cfg = _cfg()

    def indices(seed, n=10, batch=4):
        return [idx for _, _, idx in make_subset_loader(cfg, "shapes_train", n, seed, batch)]

    a = indices(0)
    assert [len(b) for b in a] == [4, 4, 2]
    flat = [i for b in a for i in b]
    assert len(set(flat)) == 10 and all(0 <= i < 24 for i in flat)
    assert indices(0) == a
    assert indices(1) != a
    # The same images in the same order, so the same pixels.
    x1 = next(iter(make_subset_loader(cfg, "shapes_train", 4, 0, 4)))[0].tensors
    x2 = next(iter(make_subset_loader(cfg, "shapes_train", 4, 0, 4)))[0].tensors
    assert torch.equal(x1, x2)
    with pytest.raises(ValueError, match="asked for 25 images but dataset 'shapes_train' has 24"):
        make_subset_loader(cfg, "shapes_train", 25, 0, 4)
    with pytest.raises(ValueError, match="positive"):
        make_subset_loader(cfg, "shapes_train", 0, 0, 4)


def _distributed_worker(rank, world_size, init_file, root, out):
    import os

    import torch.distributed as dist

    os.environ["DETNAS_DATASETS"] = root
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        cfg = _cfg("SOLVER.MAX_ITER", 3, "TEST.IMS_PER_BATCH", 2, "SEED", -1)
        train = [idx for _, _, idx in make_data_loader(cfg, is_train=True, is_distributed=True)]
        test = [
            [i for _, _, idx in loader for i in idx]
            for loader in make_data_loader(cfg, is_train=False, is_distributed=True)
        ]
        out[rank] = (train, test)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_distributed_loaders(shapes_root, tmp_path):
    """Two gloo processes: 2 training images each per step, disjoint; test shards cover once."""
    mp = torch.multiprocessing.get_context("spawn")
    out = mp.Manager().dict()
    torch.multiprocessing.start_processes(
        _distributed_worker, args=(2, str(tmp_path / "init"), str(shapes_root), out), nprocs=2, start_method="spawn"
    )
    (train0, test0), (train1, test1) = out[0], out[1]
    assert len(train0) == len(train1) == 3
    for a, b in zip(train0, train1):
        assert len(a) <= 2 and len(b) <= 2
    # The same drawn seed on both ranks: the first pass is split between them without overlap.
    assert not set(train0[0]) & set(train1[0])
    for mine, theirs, n in zip(test0, test1, (8, 6)):
        assert sorted(mine + theirs) == list(range(n)) and mine == sorted(mine)
