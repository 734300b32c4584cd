"""Datasets and data loaders from a config."""

import bisect
import importlib
import logging

import torch
import torch.distributed as dist
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from . import datasets as D
from .collate_batch import BatchCollator
from .samplers import GroupedBatchSampler, InferenceShardSampler, IterationBasedBatchSampler
from .transforms import build_transforms

logger = logging.getLogger(__name__)


def dataset_catalog(cfg):
    """The PATHS_CATALOG class with DATASETS.CATALOG / $DETNAS_DATASET_CATALOG bound: `.get(name)`."""
    from maskrcnn_benchmark.config.paths_catalog import BoundCatalog, catalog_files

    return BoundCatalog(_catalog_class(cfg), catalog_files(cfg.DATASETS.CATALOG))


def _catalog_class(cfg):
    try:
        module = importlib.import_module(cfg.PATHS_CATALOG)
    except ImportError as e:
        raise ImportError(f"PATHS_CATALOG {cfg.PATHS_CATALOG!r} cannot be imported: {e}") from e
    if not hasattr(module, "DatasetCatalog"):
        raise AttributeError(f"PATHS_CATALOG module {cfg.PATHS_CATALOG!r} has no DatasetCatalog")
    return module.DatasetCatalog


def build_dataset(dataset_names, transforms, is_train, catalog, skip_missing_images=False):
    """Datasets named in the catalog; for training they are concatenated into one.

    Returns a list: `[dataset]` when `is_train`, one dataset per name otherwise. Training drops
    images without usable annotations; testing keeps every image. Listed images that do not exist
    are an error, or dropped with a warning with `skip_missing_images`.
    """
    if isinstance(dataset_names, str):
        dataset_names = [dataset_names]
    if not dataset_names:
        raise ValueError(f"no dataset names given ({'DATASETS.TRAIN' if is_train else 'DATASETS.TEST'} is empty)")
    datasets = []
    for name in dataset_names:
        entry = catalog.get(name)
        factory = getattr(D, entry["factory"], None)
        if factory is None:
            raise ValueError(f"dataset '{name}': unknown factory {entry['factory']!r}")
        args = dict(entry["args"])
        if factory is D.COCODataset:
            args["remove_images_without_annotations"] = is_train
            args["skip_missing_images"] = skip_missing_images
        args["transforms"] = transforms
        datasets.append(factory(**args))
    if not is_train:
        return datasets
    return [datasets[0] if len(datasets) == 1 else D.ConcatDataset(datasets)]


def _aspect_group_ids(dataset):
    """0 for landscape images (height < width), 1 otherwise."""
    ids = []
    for i in range(len(dataset)):
        info = dataset.get_img_info(i)
        ids.append(bisect.bisect_right([1.0], info["height"] / info["width"]))
    return ids


def _distributed_info(is_distributed):
    if not is_distributed:
        return 0, 1
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("is_distributed=True needs torch.distributed to be initialised first")
    return dist.get_rank(), dist.get_world_size()


def _shared_seed(seed, is_distributed):
    """The data-order seed; -1 draws one, the same on every process."""
    if seed >= 0:
        return int(seed)
    drawn = [int(torch.randint(0, 2**31 - 1, ()).item())]
    if is_distributed:
        dist.broadcast_object_list(drawn, src=0)
    return drawn[0]


def _per_process(total, world_size, key):
    if total % world_size:
        raise ValueError(f"{key} ({total}) must be divisible by the number of processes ({world_size})")
    return total // world_size


def make_data_loader(cfg, is_train=True, is_distributed=False, start_iter=0):
    """Training: one DataLoader of `SOLVER.MAX_ITER` batches (shuffled, aspect-grouped when
    DATALOADER.ASPECT_RATIO_GROUPING, resumable at `start_iter`). Testing: a list of DataLoaders, one
    per DATASETS.TEST name, in order (each process its own contiguous shard when distributed).
    Batches are (ImageList, targets, dataset indices)."""
    rank, world_size = _distributed_info(is_distributed)
    catalog = dataset_catalog(cfg)
    collator = BatchCollator(cfg.DATALOADER.SIZE_DIVISIBILITY)
    transforms = build_transforms(cfg, is_train)
    if is_train:
        images_per_batch = _per_process(cfg.SOLVER.IMS_PER_BATCH, world_size, "SOLVER.IMS_PER_BATCH")
        (dataset,) = build_dataset(cfg.DATASETS.TRAIN, transforms, True, catalog, cfg.DATASETS.SKIP_MISSING_IMAGES)
        if len(dataset) == 0:
            raise ValueError(f"training datasets {tuple(cfg.DATASETS.TRAIN)} have no usable images")
        # DistributedSampler also serves the single-process case: a seeded shuffle per epoch is
        # what makes resuming at start_iter replay the same order.
        sampler = DistributedSampler(
            dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=_shared_seed(cfg.SEED, is_distributed)
        )
        if cfg.DATALOADER.ASPECT_RATIO_GROUPING:
            batch_sampler = GroupedBatchSampler(
                sampler, _aspect_group_ids(dataset), images_per_batch, drop_uneven=False
            )
        else:
            batch_sampler = BatchSampler(sampler, images_per_batch, drop_last=False)
        batch_sampler = IterationBasedBatchSampler(batch_sampler, cfg.SOLVER.MAX_ITER, start_iter)
        logger.info(
            "training on %d images of %s, %d per batch per process",
            len(dataset),
            tuple(cfg.DATASETS.TRAIN),
            images_per_batch,
        )
        return DataLoader(
            dataset, batch_sampler=batch_sampler, collate_fn=collator, num_workers=cfg.DATALOADER.NUM_WORKERS
        )

    images_per_batch = _per_process(cfg.TEST.IMS_PER_BATCH, world_size, "TEST.IMS_PER_BATCH")
    loaders = []
    for dataset in build_dataset(cfg.DATASETS.TEST, transforms, False, catalog, cfg.DATASETS.SKIP_MISSING_IMAGES):
        if is_distributed:
            sampler = InferenceShardSampler(len(dataset), rank, world_size)
        else:
            sampler = SequentialSampler(dataset)
        batch_sampler = BatchSampler(sampler, images_per_batch, drop_last=False)
        loaders.append(
            DataLoader(
                dataset, batch_sampler=batch_sampler, collate_fn=collator, num_workers=cfg.DATALOADER.NUM_WORKERS
            )
        )
    return loaders


def make_subset_loader(cfg, dataset_name, num_images, seed, images_per_batch, is_train_transforms=False):
    """A DataLoader over `num_images` images of `dataset_name` drawn with `seed`: the same images in
    the same order for the same seed (BN recalibration of candidate architectures in the search).

    Images without usable annotations are left out, so every batch can also be run in training
    mode. With the default test transforms the batches are fully deterministic; training
    transforms add random flips and scales.
    """
    if num_images <= 0 or images_per_batch <= 0:
        raise ValueError(f"num_images and images_per_batch must be positive, got {num_images} and {images_per_batch}")
    transforms = build_transforms(cfg, is_train_transforms)
    entry = dataset_catalog(cfg).get(dataset_name)
    factory = getattr(D, entry["factory"])
    args = dict(entry["args"], transforms=transforms)
    if factory is D.COCODataset:
        args["remove_images_without_annotations"] = True
        args["skip_missing_images"] = cfg.DATASETS.SKIP_MISSING_IMAGES
    dataset = factory(**args)
    if num_images > len(dataset):
        raise ValueError(
            f"make_subset_loader: asked for {num_images} images but dataset "
            f"'{dataset_name}' has {len(dataset)} usable images"
        )
    generator = torch.Generator().manual_seed(int(seed))
    indices = torch.randperm(len(dataset), generator=generator)[:num_images].tolist()
    batch_sampler = BatchSampler(indices, images_per_batch, drop_last=False)
    return DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        collate_fn=BatchCollator(cfg.DATALOADER.SIZE_DIVISIBILITY),
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )
