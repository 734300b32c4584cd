"""DetNAS backbone numbers: the FLOPs table of every preset, and the cost of training through the
supernet compared with the fixed body of the same path.

    python tools/benchmark_detnas.py                     # FLOPs table + 300M timing on CPU
    python tools/benchmark_detnas.py --device cuda --sizes 300M 1.3G 3.8G --batch 32
    python tools/benchmark_detnas.py --flops-only
    python tools/benchmark_detnas.py --no-detector        # without the detector inference part

Timing: forward + backward (train mode, SGD-style zero_grad(set_to_none=True)) of the supernet on
one path and of the fixed body loaded with that path's weights, alternated iteration by iteration so
that machine noise hits both alike; the medians and their ratio (target: supernet <= 1.1x fixed)
are reported.

Detector inference: Faster R-CNN with the DETNAS-COCO-FPN-300M body (its paper config, BN instead
of SyncBN for one process) against R-50-FPN (configs/e2e_faster_rcnn_R_50_FPN_1x.yaml) on the same
image (800x1067 by default, each normalised as its config says), batch 1, eval mode; random weights
with every BN layer set from its input's batch statistics and the class scores spread (as in
tools/benchmark_detector.py), so that both run the full RPN -> box head -> detection NMS; alternated
round by round, medians and the ratio DetNAS / R-50.
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from maskrcnn_benchmark.config import load_config  # noqa: E402
from maskrcnn_benchmark.modeling.detector import build_detection_model  # noqa: E402

from maskrcnn_benchmark.modeling.backbone.detnas import DetNASBody, DetNASSupernet  # noqa: E402
from maskrcnn_benchmark.nas import (  # noqa: E402
    RELEASED_ARCHS,
    SIZES,
    arch_to_str,
    count_flops,
    extract_subnet,
    flops_range,
    parse_arch,
)
from tools.benchmarking.detector_steps import ForwardRecorder, work_probes  # noqa: E402
from tools.benchmarking.random_weights import calibrate_norm_statistics, spread_class_scores  # noqa: E402
from tools.benchmarking.synthetic_inputs import synthetic_batch  # noqa: E402
from tools.benchmarking.timing import medians, sync, time_alternating  # noqa: E402


def flops_table(input_size=224):
    rows = []
    for size in SIZES:
        lo, hi = flops_range(size, input_size)
        released = {
            name: count_flops(size, arch, input_size) for name, (s, arch) in RELEASED_ARCHS.items() if s == size
        }
        rows.append({"size": size, "min": lo, "max": hi, "released": released})
    return rows


def print_flops_table(rows, input_size):
    print(f"\nBody FLOPs (conv multiply-adds, {input_size}x{input_size} input)")
    print("| size | released architecture | FLOPs | search-space min | search-space max |")
    print("|---|---|---|---|---|")
    for r in rows:
        for name, flops in r["released"].items():
            print(f"| {r['size']} | {name} | {flops / 1e6:.1f}M | {r['min'] / 1e6:.1f}M | {r['max'] / 1e6:.1f}M |")


def _step(model, x, arch=None):
    model.zero_grad(set_to_none=True)
    outs = model(x, arch) if arch is not None else model(x)
    sum(o.float().mean() for o in outs).backward()


def time_supernet_vs_fixed(size, arch, batch, input_size, iters, warmup, device):
    torch.manual_seed(0)
    supernet = DetNASSupernet(size).to(device).train()
    fixed = DetNASBody(size, arch).to(device).train()
    fixed.load_state_dict(extract_subnet(supernet.state_dict(), fixed.arch), strict=True)
    x = torch.randn(batch, 3, input_size, input_size, device=device)
    times = time_alternating(
        {"fixed": lambda: _step(fixed, x), "supernet": lambda: _step(supernet, x, fixed.arch)},
        warmup,
        iters,
        device,
        reverse=False,
    )
    t_fixed, t_super = times["fixed"]["wall"], times["supernet"]["wall"]
    med = medians(times)
    fixed_s, super_s = med["fixed"], med["supernet"]
    return {
        "size": size,
        "arch": arch_to_str(fixed.arch),
        "batch": batch,
        "input_size": input_size,
        "device": str(device),
        "fixed_s": fixed_s,
        "supernet_s": super_s,
        "ratio": super_s / fixed_s,
        # on a shared machine the fastest run is the least disturbed one
        "ratio_of_min": min(t_super) / min(t_fixed),
        "fixed_all": t_fixed,
        "supernet_all": t_super,
    }


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DETECTOR_CONFIGS = {
    "DETNAS-COCO-FPN-300M": (
        "configs/detnas/e2e_faster_rcnn_detnas_fpn_300M_1x.yaml",
        ["MODEL.WEIGHT", "", "MODEL.BACKBONE.NORM", "BN", "MODEL.FPN.NORM", "BN", "MODEL.ROI_BOX_HEAD.NORM", "BN"],
    ),
    "R-50-FPN": ("configs/e2e_faster_rcnn_R_50_FPN_1x.yaml", ["MODEL.WEIGHT", ""]),
}


class _DetectorInference:
    def __init__(self, model, images, device):
        self.model, self.images, self.device = model.eval(), images, device

    def run(self, phase="inference"):
        with torch.inference_mode():
            out = self.model(self.images)
        sync(self.device)
        return out


DETECTOR_STAGES = ("body", "fpn", "rpn", "roi_heads")


def stage_seconds(runner, passes):
    """Median seconds per stage (body, FPN, RPN, ROI heads) over `passes` runs, from forward
    hooks (with a device sync at each stage boundary on CUDA); separate from the timed runs."""
    model = runner.model
    modules = {"body": model.backbone.body, "fpn": model.backbone.fpn, "rpn": model.rpn, "roi_heads": model.roi_heads}
    seconds = {name: [] for name in modules}
    starts = {}
    handles = []
    for name, module in modules.items():

        def pre(m, inputs, name=name):
            sync(runner.device)
            starts[name] = time.perf_counter()

        def post(m, inputs, output, name=name):
            sync(runner.device)
            seconds[name].append(time.perf_counter() - starts[name])

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        for _ in range(passes):
            runner.run()
    finally:
        for h in handles:
            h.remove()
    return {name: statistics.median(v) for name, v in seconds.items()}


def time_detector_inference(height, width, iters, warmup, device, seed=0):
    """Seconds per image of each detector in DETECTOR_CONFIGS (the first against the last)."""
    runners, rows = {}, []
    for name, (config, overrides) in DETECTOR_CONFIGS.items():
        cfg = load_config(os.path.join(REPO, config), overrides)
        torch.manual_seed(seed)
        model = build_detection_model(cfg).to(device).eval()
        # the same image for both, normalised as each config says (DetNAS: BGR 0-255, mean 0)
        images, _ = synthetic_batch(1, height, width, seed + 2, cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD)
        calib, _ = synthetic_batch(1, height, width, seed + 1, cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD)
        calib = [c.to(device) for c in calib]

        def run(model=model, calib=calib):
            with torch.no_grad():
                model(calib)

        calibrate_norm_statistics(model, run)
        spread_class_scores(model.roi_heads["box"].predictor.cls_score, run)
        runner = _DetectorInference(model, [i.to(device) for i in images], device)
        with ForwardRecorder(work_probes(model, "ours")) as rec:
            out = runner.run()
        proposals = [n for call in rec["proposals"] for n in call]
        print(
            f"  {name}: proposals per image {proposals}, RoIs pooled {sum(rec['rois'])}, "
            f"detections {[len(o) for o in out]}, max |FPN output| "
            f"{max(rec['fpn_max_abs']):.1f}",
            flush=True,
        )
        runners[name] = runner
    times = time_alternating({name: runner.run for name, runner in runners.items()}, warmup, iters)
    wall, cpu = medians(times), medians(times, "cpu")
    names = list(DETECTOR_CONFIGS)
    reference = wall[names[-1]]
    for name in names:
        rows.append(
            {
                "detector": name,
                "input": f"{height}x{width}",
                "device": str(device),
                "wall_s": wall[name],
                "cpu_s": cpu[name],
                "min_wall_s": min(times[name]["wall"]),
                "ratio": wall[name] / reference,
                "wall_all": times[name]["wall"],
                "stages_s": stage_seconds(runners[name], max(1, min(iters, 3))),
            }
        )
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--sizes", nargs="+", default=["300M"], choices=list(SIZES))
    p.add_argument("--arch", default="", help="path to time (default: the size's first released architecture)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--flops-only", action="store_true")
    p.add_argument("--no-detector", action="store_true", help="skip the detector inference comparison")
    p.add_argument(
        "--detector-size",
        type=int,
        nargs=2,
        default=(800, 1067),
        metavar=("H", "W"),
        help="detector input (default 800 1067)",
    )
    p.add_argument("--detector-iters", type=int, default=5)
    p.add_argument("--detector-warmup", type=int, default=1)
    p.add_argument("--json", default="", help="also write the results here")
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    results = {"flops": flops_table(224)}
    print_flops_table(results["flops"], 224)
    if not args.flops_only:
        device = torch.device(args.device)
        results["timing"] = []
        print(
            f"\nForward + backward, batch {args.batch}x3x{args.input_size}x{args.input_size} on "
            f"{device} ({torch.get_num_threads()} threads), median of {args.iters}"
        )
        print("| size | path | fixed body | supernet on the path | ratio (median) | ratio (min) |")
        print("|---|---|---|---|---|---|")
        for size in args.sizes:
            default = next(a for s, a in RELEASED_ARCHS.values() if s == size)
            arch = parse_arch(args.arch, size) if args.arch else default
            r = time_supernet_vs_fixed(size, arch, args.batch, args.input_size, args.iters, args.warmup, device)
            results["timing"].append(r)
            print(
                f"| {size} | {r['arch']} | {r['fixed_s'] * 1e3:.1f} ms | "
                f"{r['supernet_s'] * 1e3:.1f} ms | {r['ratio']:.3f} | {r['ratio_of_min']:.3f} |",
                flush=True,
            )
    if not args.flops_only and not args.no_detector:
        height, width = args.detector_size
        print(
            f"\nDetector inference (Faster R-CNN + FPN), batch 1, {height}x{width} on "
            f"{device} ({torch.get_num_threads()} threads), median of {args.detector_iters}"
        )
        rows = time_detector_inference(height, width, args.detector_iters, args.detector_warmup, device)
        results["detector_inference"] = rows
        print(
            "| detector | input | wall s/image | CPU s/image (process_time) | min wall | "
            "ratio to R-50-FPN (median wall) |"
        )
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['detector']} | {r['input']} | {r['wall_s']:.3f} | {r['cpu_s']:.3f} | "
                f"{r['min_wall_s']:.3f} | {r['ratio']:.3f} |",
                flush=True,
            )
        print("\nWhere the time goes (separate passes, median seconds per stage):")
        print("| detector | " + " | ".join(DETECTOR_STAGES) + " |")
        print("|---|" + "---|" * len(DETECTOR_STAGES))
        for r in rows:
            print(f"| {r['detector']} | " + " | ".join(f"{r['stages_s'][k]:.3f}" for k in DETECTOR_STAGES) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return results


if __name__ == "__main__":
    main()
