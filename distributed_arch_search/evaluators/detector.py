"""The real evaluator of the search: one supernet path's COCO AP on the search-val split.

The supernet detector (fine-tuned by `tools/train_net.py` on a `-search` config) is built from the
config file plus overrides given on the server's command line — passed explicitly, never read from a
global config, which is what made the original workers score every candidate near 0 AP — and its
weights are loaded once. Per candidate: BN statistics are reset and recomputed exactly for that path on
a fixed, seeded subset of DATASETS.TRAIN[0] (NAS.BN_RECAL_IMAGES images, NAS.BN_RECAL_BATCH per
batch), then bbox AP is measured on DATASETS.TEST[0] with pycocotools.

Both image sets are the same for every candidate, so when they fit in `--cache-mb` of memory the
prepared batches are kept after the first pass instead of being decoded again for every architecture.

`--weights A B ...` scores each path with several supernets trained by the same recipe (other
NAS.PATH_SEEDs) and returns their mean AP: at demo scale one supernet's ranking is mostly the noise of
its own training run (README, "Does the search work?"), and the mean of independent runs averages it.

The score is a deterministic function of the architecture (same images in the same order, exact BN
statistics, inference in eval mode): its fingerprint hashes the weights files, the resolved config, the
annotations of both image sets, the device kind and the torch version, so with ``--score-cache`` no
architecture is evaluated twice with the same supernet(s).
"""

import logging
import os

import torch

from ..score_cache import file_digest, fingerprint
from .base import EVALUATORS, Evaluator
from .digests import dataset_digest

logger = logging.getLogger(__name__)


def _batches_nbytes(batches):
    return sum(images.tensors.numel() * images.tensors.element_size() for images, _, _ in batches)


class _CachedBatches:
    """Iterates a data loader; keeps its batches in memory after the first full pass if they fit."""

    def __init__(self, loader, limit_bytes):
        self.loader = loader
        self.dataset = loader.dataset
        self.limit_bytes = limit_bytes
        self.cached = None

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        if self.cached is not None:
            yield from self.cached
            return
        kept, size = [], 0
        for batch in self.loader:
            if kept is not None:
                size += _batches_nbytes([batch])
                kept = kept + [batch] if size <= self.limit_bytes else None
            yield batch
        if kept is not None:
            self.cached = kept


@EVALUATORS.register("detector")
class DetectorEvaluator(Evaluator):
    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument(
            "--config-file", required=True, help="the supernet's detection config (a '-search' CONV_BODY)"
        )
        parser.add_argument(
            "--weights",
            nargs="+",
            default=[],
            help="supernet detector checkpoint (default: MODEL.WEIGHT, else the last checkpoint in OUTPUT_DIR); "
            "several: the score is their mean AP",
        )
        parser.add_argument(
            "--cache-mb",
            type=float,
            default=2048,
            help="keep the prepared recalibration and test batches in memory when "
            "they fit in this many MB (default 2048; 0 disables)",
        )
        parser.add_argument(
            "--opts",
            nargs="*",
            default=[],
            metavar="KEY VALUE",
            help="config overrides, e.g. --opts NAS.BN_RECAL_IMAGES 4000",
        )

    def setup(self):
        from maskrcnn_benchmark.config import load_config
        from maskrcnn_benchmark.data import make_data_loader
        from maskrcnn_benchmark.data.num_classes import resolve_num_classes
        from maskrcnn_benchmark.engine.supernet import make_bn_recalibration_loader, supernet_body
        from maskrcnn_benchmark.modeling.detector import build_detection_model
        from maskrcnn_benchmark.utils.checkpoint import Checkpointer

        args = self.args
        cfg = load_config(args.config_file, list(args.opts) + ["MODEL.DEVICE", self.device])
        cfg = resolve_num_classes(cfg)
        if not cfg.DATASETS.TEST:
            raise ValueError(f"{args.config_file}: DATASETS.TEST must name the search-val split")
        self.cfg = cfg
        self.model = build_detection_model(cfg).to(self.device)
        supernet_body(self.model)  # a clear error if the config is not a supernet
        weights = _weights_list(args.weights) or [cfg.MODEL.WEIGHT] * bool(cfg.MODEL.WEIGHT)
        checkpointer = Checkpointer(self.model, save_dir=cfg.OUTPUT_DIR if not weights else "")
        if not weights and not checkpointer.has_checkpoint():
            raise ValueError(
                "no supernet weights: give --weights, MODEL.WEIGHT, or an OUTPUT_DIR "
                "holding the fine-tuned supernet's checkpoints"
            )
        if not weights:
            weights = [checkpointer.get_checkpoint_file()]
        self.weights_paths = weights
        # One model; each supernet's tensors are kept on the CPU and loaded in turn (BN statistics
        # are recomputed per path anyway).
        if len(weights) == 1:
            checkpointer.load(weights[0])
            self.supernet_states = []
        else:
            self.supernet_states = [_full_supernet_state(self.model, w) for w in weights]
        limit = int(args.cache_mb * 2**20)
        self.recal_batches = _CachedBatches(make_bn_recalibration_loader(cfg), limit)
        test_loader = make_data_loader(cfg, is_train=False, is_distributed=False)[0]
        self.test_batches = _CachedBatches(test_loader, limit)
        self.test_name = cfg.DATASETS.TEST[0]
        logger.info(
            "detector evaluator ready on %s: %s, BN on %d batches of %s, AP on %s (%d images)",
            self.device,
            cfg.MODEL.BACKBONE.CONV_BODY,
            len(self.recal_batches),
            cfg.DATASETS.TRAIN[0],
            self.test_name,
            len(test_loader.dataset),
        )

    def fingerprint(self):
        recal = self.recal_batches.loader
        indices = [i for batch in recal.batch_sampler for i in batch]
        return fingerprint(
            "detector",
            self.cfg.dump(),
            *[file_digest(w) for w in self.weights_paths],
            dataset_digest(recal.dataset, indices),
            dataset_digest(self.test_batches.dataset),
            torch.device(self.device).type,
            torch.__version__,
        )

    def evaluate(self, arch):
        if not self.supernet_states:
            return self._evaluate_loaded(arch)
        per_supernet = []
        for state in self.supernet_states:
            self.model.load_state_dict(state)
            per_supernet.append(self._evaluate_loaded(arch))
        mean = {k: sum(r[k] for r in per_supernet) / len(per_supernet) for k in ("ap", "ap50", "ap75")}
        return {**mean, **{f"ap_supernet{i}": r["ap"] for i, r in enumerate(per_supernet)}}

    def _evaluate_loaded(self, arch):
        from maskrcnn_benchmark.engine.supernet import evaluate_path

        name = self.test_name
        results = evaluate_path(
            self.model,
            arch,
            self.recal_batches,
            {name: self.test_batches},
            self.device,
            {name: os.path.join(self.scratch_dir, "last_eval")},
            progress=False,
            coco_eval_backend=self.cfg.TEST.COCO_EVAL_BACKEND,
        )
        bbox = results[name]["bbox"]
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
        return {"ap": bbox["AP"], "ap50": bbox["AP50"], "ap75": bbox["AP75"]}


def _full_supernet_state(model, path):
    """`path`'s tensors for every entry of the model's state (on the CPU); a partial file would mix
    supernets, so it is refused."""
    from maskrcnn_benchmark.utils.checkpoint import load_file, load_state_dict_reported

    checkpoint = load_file(path)
    state = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a fine-tuned supernet detector checkpoint (no 'model' dict)")
    report = load_state_dict_reported(model, state, path, logger)
    if report["missing"] or report["mismatched"]:
        bad = (report["missing"] + report["mismatched"])[:5]
        raise ValueError(f"{path}: does not cover the supernet detector (missing or mismatched: {bad}, ...)")
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _weights_list(weights):
    """--weights as a list (a programmatic caller may still pass one path as a string)."""
    if isinstance(weights, str):
        return [weights] if weights else []
    if len(set(weights)) != len(weights):
        raise ValueError(f"--weights names a supernet twice: {weights}")
    return list(weights)
