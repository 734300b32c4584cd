"""Times our ops (maskrcnn_benchmark._C) against torchvision.ops on identical inputs, side by side.

    python tools/benchmark_ops.py [--device cpu|cuda] [--repeats N] [--only roi_align,nms,...]

Prints one row per case: our median time, torchvision's median time, the ratio ours / torchvision (< 1 means
we are faster) and the largest absolute difference between the two outputs (and input gradients for
forward+backward cases; for NMS the number of kept indices that differ).
"""

import argparse
import json
import math
import os
import sys

import torch
import torchvision.ops as tvo

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from maskrcnn_benchmark.layers import batched_nms, nms, roi_align, roi_pool, sigmoid_focal_loss  # noqa: E402
from tools.benchmarking.timing import medians, time_alternating  # noqa: E402

IMAGE_W, IMAGE_H = 1088, 800  # a padded 800x1067 COCO image
FEATURE_SHAPE = (2, 256, IMAGE_H // 4, IMAGE_W // 4)  # FPN P2: stride 4, 2 images
SPATIAL_SCALE = 0.25


def realistic_boxes(num, generator, min_size=16.0, max_size=448.0, clusters=0):
    """Boxes inside the image with log-uniform sqrt(area) (the size range FPN levels 2-5 see) and aspect
    ratios in [1/2, 2]. With `clusters`, boxes are jittered copies of a few objects (heavy overlaps, as the
    proposals of an RPN are)."""
    scale = torch.exp(torch.empty(num).uniform_(math.log(min_size), math.log(max_size), generator=generator))
    aspect = torch.exp(torch.empty(num).uniform_(math.log(0.5), math.log(2.0), generator=generator))
    w, h = scale * aspect.sqrt(), scale / aspect.sqrt()
    if clusters:
        centres = torch.rand(clusters, 2, generator=generator) * torch.tensor([IMAGE_W, IMAGE_H])
        owner = torch.randint(0, clusters, (num,), generator=generator)
        cx = centres[owner, 0] + torch.randn(num, generator=generator) * 0.1 * w
        cy = centres[owner, 1] + torch.randn(num, generator=generator) * 0.1 * h
    else:
        cx = torch.rand(num, generator=generator) * IMAGE_W
        cy = torch.rand(num, generator=generator) * IMAGE_H
    boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=1)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, IMAGE_W)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, IMAGE_H)
    return boxes


def realistic_rois(num, generator, batch_size):
    batch_index = torch.randint(0, batch_size, (num, 1), generator=generator).float()
    return torch.cat([batch_index, realistic_boxes(num, generator)], dim=1)


def median_times(fn_a, fn_b, device, repeats, warmup):
    """Median wall time of fn_a and of fn_b, run alternately so that load from other processes on a shared
    machine affects both sides alike."""
    times = time_alternating({"a": fn_a, "b": fn_b}, warmup, repeats, device, reverse=False)
    med = medians(times)
    return med["a"], med["b"]


def max_abs_diff(a, b):
    if isinstance(a, (tuple, list)):
        return max(max_abs_diff(x, y) for x, y in zip(a, b))
    if a.numel() == 0:
        return 0.0
    return (a.double() - b.double()).abs().max().item()


def forward_backward(op, x, grad):
    """A closure running op(x) and its backward with `grad`; returns (output, input gradient)."""

    def run():
        x.grad = None
        out = op(x)
        out.backward(grad)
        return out.detach(), x.grad

    return run


def roi_cases(device, generator):
    features = torch.randn(FEATURE_SHAPE, generator=generator).to(device)
    cases = []
    for num_rois in (512, 1000):
        rois = realistic_rois(num_rois, generator, FEATURE_SHAPE[0]).to(device)
        grad = torch.randn(num_rois, FEATURE_SHAPE[1], 7, 7, generator=generator).to(device)
        for aligned in (False, True):
            tag = f"{num_rois} rois 7x7 sr2 aligned={aligned}"
            ours = lambda x, r=rois, a=aligned: roi_align(x, r, 7, SPATIAL_SCALE, 2, a)  # noqa: E731
            ref = lambda x, r=rois, a=aligned: tvo.roi_align(x, r, 7, SPATIAL_SCALE, 2, a)  # noqa: E731
            cases.append(("roi_align fwd", tag, lambda f=ours: f(features), lambda f=ref: f(features)))
            x_ours = features.clone().requires_grad_()
            x_ref = features.clone().requires_grad_()
            cases.append(
                ("roi_align fwd+bwd", tag, forward_backward(ours, x_ours, grad), forward_backward(ref, x_ref, grad))
            )
        tag = f"{num_rois} rois 7x7"
        x_ours = features.clone().requires_grad_()
        x_ref = features.clone().requires_grad_()
        cases.append(
            (
                "roi_pool fwd+bwd",
                tag,
                forward_backward(lambda x, r=rois: roi_pool(x, r, 7, SPATIAL_SCALE), x_ours, grad),
                forward_backward(lambda x, r=rois: tvo.roi_pool(x, r, 7, SPATIAL_SCALE), x_ref, grad),
            )
        )
    return cases


def nms_cases(device, generator):
    cases = []
    for num in (2000, 10000):
        for kind, clusters in (("random", 0), ("clustered", 50)):
            boxes = realistic_boxes(num, generator, clusters=clusters).to(device)
            scores = torch.rand(num, generator=generator).to(device)
            cases.append(
                (
                    "nms",
                    f"{num} {kind} boxes iou 0.5",
                    lambda b=boxes, s=scores: nms(b, s, 0.5),
                    lambda b=boxes, s=scores: tvo.nms(b, s, 0.5),
                )
            )
    boxes = realistic_boxes(10000, generator).to(device)
    scores = torch.rand(10000, generator=generator).to(device)
    classes = torch.randint(0, 80, (10000,), generator=generator).to(device)
    cases.append(
        (
            "batched_nms",
            "10000 boxes 80 classes iou 0.5",
            lambda: batched_nms(boxes, scores, classes, 0.5),
            lambda: tvo.batched_nms(boxes, scores, classes, 0.5),
        )
    )
    return cases


def focal_loss_cases(device, generator):
    num, num_classes = 100_000, 80
    logits = (torch.randn(num, num_classes, generator=generator) * 3).to(device)
    labels = torch.randint(0, num_classes + 1, (num,), generator=generator).to(device)
    targets = torch.zeros(num, num_classes, device=device)
    positive = labels > 0
    targets[positive.nonzero()[:, 0], labels[positive] - 1] = 1
    grad = torch.ones((), device=device)
    x_ours = logits.clone().requires_grad_()
    x_ref = logits.clone().requires_grad_()
    ours = forward_backward(lambda x: sigmoid_focal_loss(x, labels, 2.0, 0.25).sum(), x_ours, grad)
    ref = forward_backward(lambda x: tvo.sigmoid_focal_loss(x, targets, 0.25, 2.0, reduction="sum"), x_ref, grad)
    return [("sigmoid_focal_loss fwd+bwd", f"{num}x{num_classes} gamma 2 alpha 0.25", ours, ref)]


def nms_difference(a, b):
    """How many kept indices differ (0 when both lists are identical)."""
    if a.shape == b.shape and torch.equal(a, b):
        return 0
    return len(set(a.tolist()) ^ set(b.tolist())) or max(len(a), len(b))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per case first")
    parser.add_argument("--only", default="", help="comma-separated op names to run (default: all)")
    parser.add_argument("--json", default="", help="also write the rows here")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)

    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"torch {torch.__version__}, torchvision {sys.modules['torchvision'].__version__}, device {name}, "
        f"median of {args.repeats} runs after {args.warmup} warm-up"
    )
    header = f"{'op':<27} {'case':<36} {'ours ms':>9} {'tv ms':>9} {'ratio':>6}  max abs diff"
    print(header)
    print("-" * len(header))
    wanted = {w.strip() for w in args.only.split(",") if w.strip()}
    rows = []
    for make_cases in (roi_cases, nms_cases, focal_loss_cases):
        for op, case, ours, ref in make_cases(device, generator):
            if wanted and op.split()[0] not in wanted:
                continue
            ours_out, ref_out = ours(), ref()
            diff = nms_difference(ours_out, ref_out) if "nms" in op else f"{max_abs_diff(ours_out, ref_out):.2e}"
            if "nms" in op:
                diff = "identical" if diff == 0 else f"{diff} indices differ"
            t_ours, t_ref = median_times(ours, ref, device, args.repeats, args.warmup)
            print(
                f"{op:<27} {case:<36} {t_ours * 1e3:9.2f} {t_ref * 1e3:9.2f} {t_ours / t_ref:6.2f}  {diff}", flush=True
            )
            rows.append(
                dict(
                    op=op,
                    case=case,
                    ours_ms=t_ours * 1e3,
                    torchvision_ms=t_ref * 1e3,
                    ratio=t_ours / t_ref,
                    difference=diff,
                )
            )
    if rows:
        worst = max(rows, key=lambda r: r["ratio"])
        slower = [f"{r['op']} ({r['case']}) {r['ratio']:.2f}" for r in rows if r["ratio"] > 1.0]
        print(
            f"\nlargest ratio ours/torchvision: {worst['ratio']:.2f} ({worst['op']}, {worst['case']}); "
            f"slower than torchvision: {'; '.join(slower) if slower else 'none'}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(dict(device=name, torch=torch.__version__, repeats=args.repeats, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
