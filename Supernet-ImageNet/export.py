"""Turn a Supernet-ImageNet training checkpoint into backbone weights for detection.

    python Supernet-ImageNet/export.py output/supernet_300M/checkpoint_last.pth
    python Supernet-ImageNet/export.py CKPT --output ImageNet-Pretrain-models/supernet_300M.pth

Only the body (stem + choice blocks) is written, with metadata (size, architecture or "supernet",
channel split) via maskrcnn_benchmark.nas.export_backbone; the classifier head stays behind.
Without --output the file goes to ImageNet-Pretrain-models/detnas_<size>_<arch or supernet>.pth.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import torch  # noqa: E402

from maskrcnn_benchmark.nas import export_backbone  # noqa: E402

CHECKPOINT_KIND = "detnas_imagenet_checkpoint"
DEFAULT_DIR = os.path.join(REPO, "ImageNet-Pretrain-models")


def default_export_path(meta):
    return os.path.join(DEFAULT_DIR, f"detnas_{meta['size']}_{meta['arch']}.pth")


def export_from_checkpoint(checkpoint, output=None, extra_meta=None):
    """checkpoint: a path or the loaded dict of a train.py checkpoint. Returns (path, meta)."""
    source = "<dict>"
    if not isinstance(checkpoint, dict):
        source = os.fspath(checkpoint)
        checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    meta = checkpoint.get("meta") if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or meta.get("kind") != CHECKPOINT_KIND:
        raise ValueError(
            f"{source}: not a Supernet-ImageNet training checkpoint (meta.kind '{CHECKPOINT_KIND}' expected)"
        )
    body = {k[len("body.") :]: v for k, v in checkpoint["model"].items() if k.startswith("body.")}
    if not body:
        raise ValueError(f"{source}: the model has no 'body.*' weights")
    arch = None if meta["arch"] == "supernet" else meta["arch"]
    extra = {
        "source": "Supernet-ImageNet",
        "iteration": int(checkpoint.get("iteration", 0)),
        "num_classes": meta.get("num_classes"),
        "input_size": meta.get("input_size"),
        "norm": meta.get("norm"),
    }
    extra.update(extra_meta or {})
    path = output or default_export_path(meta)
    written = export_backbone(path, body, meta["size"], arch, extra)
    return path, written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a train.py checkpoint (e.g. checkpoint_last.pth)")
    parser.add_argument("--output", default=None, help="where to write the backbone weights")
    args = parser.parse_args(argv)
    path, meta = export_from_checkpoint(args.checkpoint, args.output)
    print(f"wrote {path}: size {meta['size']}, arch {meta['arch']}, iteration {meta['iteration']}")


if __name__ == "__main__":
    main()
