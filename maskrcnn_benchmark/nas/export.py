"""Backbone weights with metadata: written by ImageNet training, read by detection.

File layout (torch.save of plain containers, loadable with weights_only=True):
    {"model": {key: tensor} (body keys: stem.*, blocks.*),
     "meta": {"kind": "detnas_backbone", "format_version": 1, "size": "300M",
              "arch": "2120..." or "supernet", "channel_split": CHANNEL_SPLIT, ...extra}}

`load_backbone_weights` never loads partially: every parameter and buffer of the receiving body must
be in the file with the right shape (only the `num_batches_tracked` counters of BatchNorm are
optional, as FrozenBatchNorm2d has none), and the file may hold nothing the body lacks.
"""

import os

import torch

from maskrcnn_benchmark.utils.atomic_file import atomic_torch_save
from maskrcnn_benchmark.utils.checkpoint import CheckpointError, register_weight_loader

from .arch import arch_to_str, parse_arch
from .search_space import CHANNEL_SPLIT, get_search_space
from .subnet import extract_subnet, is_supernet_state_dict

EXPORT_KIND = "detnas_backbone"
FORMAT_VERSION = 1
SUPERNET = "supernet"
_RESERVED = ("kind", "format_version", "size", "arch", "channel_split")
_OPTIONAL_SUFFIX = "num_batches_tracked"


class BackboneWeightsError(ValueError):
    """An exported backbone file does not fit the body it is loaded into."""


def _check_plain(value, where):
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: keys must be strings, got {k!r}")
            _check_plain(v, f"{where}.{k}")
        return
    raise ValueError(
        f"{where} is a {type(value).__name__}; metadata may only hold None, bool, "
        f"int, float, str, lists and dicts (it must load with weights_only=True)"
    )


def export_backbone(path, state_dict, size, arch, extra_meta=None):
    """Write body weights (`state_dict` of a DetNASBody, or of a DetNASSupernet when `arch` is
    None) with metadata to `path`. Returns the metadata written."""
    space = get_search_space(size)
    if arch is None:
        if not is_supernet_state_dict(state_dict):
            raise ValueError(
                "arch=None exports a supernet, but the state dict has no "
                "'blocks.<i>.<choice>.' keys; pass the architecture of this body"
            )
        arch_str = SUPERNET
    else:
        arch_str = arch_to_str(parse_arch(arch, space.name))
        if is_supernet_state_dict(state_dict):
            raise ValueError(
                f"state dict is a supernet's but arch {arch_str} was given; pass "
                f"arch=None, or extract_subnet(...) first"
            )
    extra_meta = dict(extra_meta or {})
    clash = sorted(set(extra_meta) & set(_RESERVED))
    if clash:
        raise ValueError(f"extra_meta may not set reserved keys {clash}")
    _check_plain(extra_meta, "extra_meta")
    meta = {
        "kind": EXPORT_KIND,
        "format_version": FORMAT_VERSION,
        "size": space.name,
        "arch": arch_str,
        "channel_split": CHANNEL_SPLIT,
        **extra_meta,
    }
    model = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state_dict.items()}
    atomic_torch_save({"model": model, "meta": meta}, path)
    return meta


def _read(path_or_dict):
    if isinstance(path_or_dict, dict):
        return path_or_dict, "<dict>"
    source = os.fspath(path_or_dict)
    return torch.load(source, map_location="cpu", weights_only=True), source


def _list(items, limit=20):
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def load_backbone_weights(body, path_or_dict):
    """Load an `export_backbone` file (path or the loaded dict) into a DetNASBody/DetNASSupernet.

    Checks the metadata (kind, version, size, channel split, architecture), cuts a supernet export
    down to a fixed body's path with extract_subnet, and refuses any load that would leave a
    parameter or buffer of `body` untouched or shaped differently. Returns the file's metadata.
    """
    ckpt, source = _read(path_or_dict)
    meta = ckpt.get("meta") if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict) or meta.get("kind") != EXPORT_KIND or "model" not in ckpt:
        raise BackboneWeightsError(
            f"{source}: not a DetNAS backbone export (expected a dict with 'model' and 'meta' "
            f"with kind '{EXPORT_KIND}'); training checkpoints are converted with "
            f"Supernet-ImageNet/export.py"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise BackboneWeightsError(
            f"{source}: format_version {meta.get('format_version')!r}, this code reads {FORMAT_VERSION}"
        )
    if meta.get("channel_split") != CHANNEL_SPLIT:
        raise BackboneWeightsError(
            f"{source}: weights were trained with channel split "
            f"{meta.get('channel_split')!r}, this code uses {CHANNEL_SPLIT!r}"
        )
    if meta.get("size") != body.size:
        raise BackboneWeightsError(
            f"{source}: weights are for DetNAS size {meta.get('size')!r}, the body is size {body.size!r}"
        )
    state = ckpt["model"]
    body_is_supernet = getattr(body, "is_supernet", False)
    if meta.get("arch") == SUPERNET:
        if not body_is_supernet:
            state = extract_subnet(state, body.arch)
    else:
        if body_is_supernet:
            raise BackboneWeightsError(
                f"{source}: holds the fixed architecture {meta.get('arch')}, which cannot initialise a supernet"
            )
        file_arch = parse_arch(meta.get("arch"), body.size)
        if file_arch != body.arch:
            raise BackboneWeightsError(
                f"{source}: weights are for architecture {arch_to_str(file_arch)}, the body is {arch_to_str(body.arch)}"
            )
    expected = body.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(_OPTIONAL_SUFFIX)]
    mismatched = [
        f"{k} (file {tuple(state[k].shape)}, body {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    unexpected = [k for k in state if k not in expected and not k.endswith(_OPTIONAL_SUFFIX)]
    if missing or mismatched or unexpected:
        problems = []
        if missing:
            problems.append(f"missing in file: {_list(missing)}")
        if mismatched:
            problems.append(f"shape mismatch: {_list(mismatched)}")
        if unexpected:
            problems.append(f"not in the body: {_list(unexpected)}")
        raise BackboneWeightsError(f"{source}: does not cover the body (size {body.size}); " + "; ".join(problems))
    to_load = {k: state[k] if k in state else expected[k] for k in expected}
    body.load_state_dict(to_load, strict=True)
    return meta


def _load_into_detector(model, checkpoint, source, logger):
    """Checkpointer's loader for EXPORT_KIND files (MODEL.WEIGHT): into the detector's backbone body."""
    body = getattr(getattr(model, "backbone", None), "body", None)
    if body is None:
        raise CheckpointError(f"{source} holds backbone weights, but the model has no backbone.body to load them into")
    load_backbone_weights(body, checkpoint)
    logger.info("loaded DetNAS backbone weights from %s (meta %s)", source, checkpoint["meta"])


register_weight_loader(EXPORT_KIND, _load_into_detector)
