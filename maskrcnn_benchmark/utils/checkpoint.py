"""Saving and loading training state.

A checkpoint is a dict with `model`, `optimizer`, `scheduler`, `scaler`, `iteration` and `meta` (conv body,
architecture, channel split, code version). Loading never unpickles arbitrary objects
(`weights_only=True`) and never loads silently in part: it reports matched, missing, unexpected and
shape-mismatched keys, and refuses a file that matched nothing.
"""

import logging
import os

import torch

from maskrcnn_benchmark.utils.atomic_file import atomic_torch_save, atomic_write_text

CHECKPOINT_FORMAT_VERSION = 1
LAST_CHECKPOINT_FILE = "last_checkpoint"


class CheckpointError(RuntimeError):
    pass


# meta["kind"] of a weights file -> loader(model, checkpoint, source, logger): formats other than plain
# state dicts register themselves (nas.export registers its backbone exports), so this module imports
# nothing above utils.
WEIGHT_LOADERS = {}


def register_weight_loader(kind, loader):
    WEIGHT_LOADERS[kind] = loader


def check_resume_meta(path, saved, current, keys, strict=True):
    """Refuse to resume from `path` when its saved metadata and this run's disagree on any of `keys`
    (with strict=False a key that one side lacks is not compared)."""
    saved = saved if isinstance(saved, dict) else {}
    for key in keys:
        if not strict and (key not in saved or key not in current):
            continue
        if saved.get(key) != current.get(key):
            raise CheckpointError(
                f"{path} was written for {key}={saved.get(key)!r} but this run asks for {current.get(key)!r}; "
                "use another output folder or the matching settings"
            )


def unwrap_model(model):
    return model.module if hasattr(model, "module") else model


def load_file(path):
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from None


def load_state_dict_reported(model, state_dict, source, logger=None):
    """Load the keys of `state_dict` that fit `model`; log what matched and what did not.

    Returns a dict with lists `matched`, `missing`, `unexpected`, `mismatched`. Raises CheckpointError
    when nothing matched, since that is always a wrong file rather than a partial fit.
    """
    logger = logger or logging.getLogger(__name__)
    state_dict = {_strip_module(k): v for k, v in state_dict.items()}
    own = model.state_dict()
    matched, mismatched = [], []
    for k, v in state_dict.items():
        if k not in own:
            continue
        if not isinstance(v, torch.Tensor) or v.shape != own[k].shape:
            shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            mismatched.append(f"{k}: file {shape} vs model {tuple(own[k].shape)}")
            continue
        matched.append(k)
    missing = sorted(k for k in own if k not in state_dict)
    unexpected = sorted(k for k in state_dict if k not in own)
    if not matched:
        raise CheckpointError(
            f"no parameter of {source} matches the model ({len(state_dict)} keys in the file, e.g. "
            f"{sorted(state_dict)[:3]}; model keys e.g. {sorted(own)[:3]})"
        )
    own_update = {k: state_dict[k] for k in matched}
    model.load_state_dict(own_update, strict=False)
    logger.info("loaded %d/%d model tensors from %s", len(matched), len(own), source)
    for name, keys in (
        ("missing (kept initialised)", missing),
        ("unexpected (ignored)", unexpected),
        ("shape-mismatched (kept initialised)", mismatched),
    ):
        if keys:
            shown = ", ".join(keys[:20]) + (f", ... ({len(keys)} in all)" if len(keys) > 20 else "")
            logger.warning("%s keys: %s", name, shown)
    return dict(matched=matched, missing=missing, unexpected=unexpected, mismatched=mismatched)


def _strip_module(key):
    return key[len("module.") :] if key.startswith("module.") else key


class Checkpointer:
    def __init__(
        self, model, optimizer=None, scheduler=None, scaler=None, save_dir="", save_to_disk=True, logger=None, meta=None
    ):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.save_dir = save_dir
        self.save_to_disk = save_to_disk
        self.logger = logger or logging.getLogger(__name__)
        self.meta = dict(meta or {})
        self.meta.setdefault("format_version", CHECKPOINT_FORMAT_VERSION)

    def save(self, name, **arguments):
        if not self.save_dir or not self.save_to_disk:
            return None
        data = {"model": unwrap_model(self.model).state_dict(), "meta": self.meta}
        for key, obj in (("optimizer", self.optimizer), ("scheduler", self.scheduler), ("scaler", self.scaler)):
            if obj is not None:
                data[key] = obj.state_dict()
        data.update(arguments)
        path = os.path.join(self.save_dir, f"{name}.pth")
        self.logger.info("saving checkpoint to %s", path)
        atomic_torch_save(data, path)
        self._tag_last_checkpoint(path)
        return path

    def load(self, f=None, use_latest=True):
        """Resume from the last checkpoint of save_dir if there is one, else start from `f`.

        Resuming restores optimizer, scheduler and scaler and returns the saved extra arguments
        (e.g. `iteration`). Starting from `f` (MODEL.WEIGHT) loads model weights only: a detector
        checkpoint by key, or an exported DetNAS backbone into the backbone body with a strict
        coverage check. Returns {} when there is nothing to load.
        """
        if use_latest and self.has_checkpoint():
            return self.resume(self.get_checkpoint_file())
        if not f:
            self.logger.info("no checkpoint found; the model keeps its initialisation")
            return {}
        checkpoint = load_file(f)
        if not isinstance(checkpoint, dict):
            raise CheckpointError(f"{f} does not hold a dict of tensors")
        meta = checkpoint.get("meta", {})
        kind = meta.get("kind") if isinstance(meta, dict) else None
        if kind in WEIGHT_LOADERS:
            WEIGHT_LOADERS[kind](unwrap_model(self.model), checkpoint, f, self.logger)
            return {}
        state = checkpoint.get("model", checkpoint)
        load_state_dict_reported(unwrap_model(self.model), state, f, self.logger)
        return {}

    def resume(self, path, checkpoint=None):
        """Restore model, optimizer, scheduler and scaler from the checkpoint at `path`; return its
        extra arguments (e.g. `iteration`). `checkpoint`: that file's dict, when the caller has read
        it already (to check more of its meta first)."""
        self.logger.info("resuming from %s", path)
        if checkpoint is None:
            checkpoint = load_file(path)
        check_resume_meta(path, checkpoint.get("meta", {}), self.meta, ("conv_body", "arch"), strict=False)
        unwrap_model(self.model).load_state_dict(
            {_strip_module(k): v for k, v in checkpoint["model"].items()}, strict=True
        )
        for key, obj in (("optimizer", self.optimizer), ("scheduler", self.scheduler), ("scaler", self.scaler)):
            if obj is not None and key in checkpoint:
                obj.load_state_dict(checkpoint[key])
        reserved = {"model", "optimizer", "scheduler", "scaler", "meta"}
        return {k: v for k, v in checkpoint.items() if k not in reserved}

    def has_checkpoint(self):
        return bool(self.save_dir) and os.path.exists(os.path.join(self.save_dir, LAST_CHECKPOINT_FILE))

    def get_checkpoint_file(self):
        with open(os.path.join(self.save_dir, LAST_CHECKPOINT_FILE)) as fh:
            name = fh.read().strip()
        path = name if os.path.isabs(name) else os.path.join(self.save_dir, name)
        if not os.path.isfile(path):
            raise CheckpointError(f"{os.path.join(self.save_dir, LAST_CHECKPOINT_FILE)} names {path}, which is missing")
        return path

    def _tag_last_checkpoint(self, path):
        tag = os.path.join(self.save_dir, LAST_CHECKPOINT_FILE)
        atomic_write_text(tag, os.path.basename(path))
