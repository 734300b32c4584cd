"""Cost of recalibrating BN for one supernet path, the step every search evaluation starts with.

    python tools/benchmark_bn_recal.py                      # the demo's detector, 4 batches of 16 on CPU
    python tools/benchmark_bn_recal.py --device cuda --batches 8 --min-size 800 --max-size 1333

Ours: `engine.supernet.recalibrate_path` (exact mean and unbiased variance over all batches; only the
backbone runs when every BN lies in it). Peer: what one-shot NAS code usually does, PyTorch's own
cumulative BN average (momentum None, running statistics reset, BN layers in train mode) with a full
detector forward per batch. Both recalibrate the same path on the same random batches, alternated
round by round so machine noise hits both alike; the medians, their ratio and the largest difference
between the two sets of running means are printed (they agree exactly for equal batches except for the
variance, which the peer averages per batch).
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from maskrcnn_benchmark.config import load_config  # noqa: E402
from maskrcnn_benchmark.engine.supernet import recalibrate_path  # noqa: E402
from maskrcnn_benchmark.modeling.detector import build_detection_model  # noqa: E402
from maskrcnn_benchmark.nas import RELEASED_ARCHS, batch_norm_layers  # noqa: E402
from maskrcnn_benchmark.structures.image_list import to_image_list  # noqa: E402
from tools.benchmarking.timing import measure  # noqa: E402

CONFIG = "configs/quick_schedules/e2e_faster_rcnn_detnas_fpn_300M_search_shapes.yaml"


def peer_recalibrate(model, arch, batches, device):
    """PyTorch's cumulative average: reset, momentum None, BN in train mode, full forward."""
    bns = batch_norm_layers(model)
    momenta = [bn.momentum for bn in bns]
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    with torch.no_grad():
        for images in batches:
            model(images.to(device), arch=arch)
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    model.eval()


def running_means(model):
    return torch.cat([bn.running_mean.detach().flatten().double() for bn in batch_norm_layers(model)])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--config-file", default=CONFIG)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--min-size", type=int, default=112, help="image height (the config's MIN_SIZE_TEST)")
    p.add_argument("--max-size", type=int, default=150, help="image width")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads on CPU (0: torch's default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = load_config(args.config_file, ["MODEL.DEVICE", args.device, "MODEL.ROI_BOX_HEAD.NUM_CLASSES", "5"])
    torch.manual_seed(0)
    model = build_detection_model(cfg).to(device)
    arch = tuple(RELEASED_ARCHS["FPN-300M"][1])
    gen = torch.Generator().manual_seed(0)
    batches = [
        to_image_list(
            [torch.rand(3, args.min_size, args.max_size, generator=gen) * 255 for _ in range(args.batch_size)],
            cfg.DATALOADER.SIZE_DIVISIBILITY,
        )
        for _ in range(args.batches)
    ]

    ours, peer = [], []
    ours_fn = lambda: recalibrate_path(model, arch, [(b,) for b in batches], device, progress=False)  # noqa: E731
    peer_fn = lambda: peer_recalibrate(model, arch, batches, device)  # noqa: E731
    ours_fn(), peer_fn()  # warm-up
    for _ in range(args.rounds):
        ours.append(measure(ours_fn, device)[0])
        mean_ours = running_means(model)
        peer.append(measure(peer_fn, device)[0])
        mean_peer = running_means(model)
    ours_s, peer_s = statistics.median(ours), statistics.median(peer)
    images = args.batches * args.batch_size
    print(
        f"BN recalibration of one DetNAS-300M path ({images} images of {args.min_size}x{args.max_size}, "
        f"{args.batches} batches, {device.type}, median of {args.rounds})"
    )
    print(f"  ours  engine.supernet.recalibrate_path             {ours_s:8.3f} s")
    print(f"  peer  torch cumulative BN average, full forward    {peer_s:8.3f} s")
    print(f"  ratio ours / peer                                  {ours_s / peer_s:8.2f}")
    print(f"  largest |running_mean ours - peer|                 {(mean_ours - mean_peer).abs().max().item():8.2e}")


if __name__ == "__main__":
    main()
