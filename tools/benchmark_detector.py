"""Our Faster R-CNN R-50-FPN against torchvision's `fasterrcnn_resnet50_fpn`, side by side.

    python tools/benchmark_detector.py                        # CPU, 800x1067, 2 threads
    python tools/benchmark_detector.py --device cuda [--amp]  # AMP: float16 autocast for both
    python tools/benchmark_detector.py --quick                # tiny input, 1 repeat: a smoke run

Both detectors get the same work:
- the same architecture: ResNet-50 with the stride in the 3x3 conv (torchvision's layout; ours with
  MODEL.RESNETS.STRIDE_IN_1X1 False unless --stride-in-1x1), frozen BN everywhere in the body, stem
  and res2 frozen (torchvision's own choice for a pretrained backbone: 3 trainable layers), FPN
  P2..P6, a shared-conv RPN with 3 anchors per position, RoIAlign 7x7 (sampling ratio 2), a 2fc box
  head of 1024, 81 classes;
- the same weights: ours are initialised, then every BN-like layer gets the statistics of its input
  in one pass over a synthetic image (a random-init frozen-BN ResNet otherwise explodes, every
  proposal is clipped to nothing and the box head never runs), the class-score layer is rescaled so
  that detections pass the 0.05 score threshold, and the whole state is copied into torchvision's
  model through a key mapping;
- the same input: the image is given already normalised (torchvision with mean 0 and std 1) and its
  size is kept (torchvision's min_size/max_size are set so that its resize factor is exactly 1);
- the same selection sizes (printed at start, with each side's parameter names).

Measured, after warm-up, alternating the two models repeat by repeat (the order reversed every
repeat so that machine noise hits both alike): inference seconds per image (batch 1, eval,
inference_mode), training seconds per iteration (batch 2 with a few boxes per image, forward,
backward, SGD step), wall time and process CPU time, medians; peak memory of one step: on CPU the
peak resident set size above the resident size before the step, in a fresh subprocess per model and
phase (/proc/self/status VmHWM after resetting it through /proc/self/clear_refs, or
resource.getrusage's ru_maxrss where that is not possible); on CUDA torch.cuda.max_memory_allocated
above the allocated memory before the step.
"""

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
import torchvision  # noqa: E402

from maskrcnn_benchmark.modeling.detector import build_detection_model  # noqa: E402
from tools.benchmarking.detector_steps import (  # noqa: E402
    ForwardRecorder,
    Runner,
    check_work,
    max_abs,
    profile_runners,
)
from tools.benchmarking.memory import MIB, cpu_peak_memory, cuda_peak_memory  # noqa: E402
from tools.benchmarking.random_weights import calibrate_norm_statistics, spread_class_scores  # noqa: E402
from tools.benchmarking.synthetic_inputs import synthetic_batch  # noqa: E402
from tools.benchmarking.timing import medians, time_alternating  # noqa: E402
from tools.benchmarking.torchvision_peer import (  # noqa: E402
    build_torchvision,
    count_params,
    our_config,
    ours_to_torchvision_state,
    print_settings,
    selection_settings,
)

DEFAULT_CONFIG = os.path.join(ROOT, "configs", "e2e_faster_rcnn_R_50_FPN_1x.yaml")
MODELS = ("ours", "torchvision")
PHASES = ("inference", "training")


def build_models(args, device, kinds=MODELS):
    """(cfg, ours or None, torchvision's or None), on `device`."""
    cfg = our_config(args)
    torch.manual_seed(args.seed)
    ours = build_detection_model(cfg).to(device) if "ours" in kinds else None
    tv = build_torchvision(args).to(device) if "torchvision" in kinds else None
    return cfg, ours, tv


def make_inputs(args, cfg):
    height, width = args.size
    kw = dict(
        pixel_mean=cfg.INPUT.PIXEL_MEAN,
        pixel_std=cfg.INPUT.PIXEL_STD,
        num_boxes=args.boxes_per_image,
        num_classes=args.num_classes,
    )
    calib, _ = synthetic_batch(1, height, width, args.seed + 1, **kw)
    inference_images, _ = synthetic_batch(1, height, width, args.seed + 2, **kw)
    train_images, train_targets = synthetic_batch(2, height, width, args.seed + 3, **kw)
    return calib, inference_images, train_images, train_targets


def make_runners(args, device, ours, tv, inputs):
    _, inference_images, train_images, train_targets = inputs
    return {
        kind: Runner(kind, model, device, args.amp, inference_images, train_images, train_targets, args.lr)
        for kind, model in (("ours", ours), ("torchvision", tv))
    }


def prepare_weights(ours, tv, calib_images, device):
    """Calibrate our model's statistics and class scores on `calib_images`, copy all into
    torchvision's model; returns what was seen, for the report."""
    images = [i.to(device) for i in calib_images]
    ours.eval()

    def run():
        with torch.no_grad():
            ours(images)

    with ForwardRecorder({"body_max_abs": (ours.backbone.body, max_abs)}) as before:
        run()
    num_norms = calibrate_norm_statistics(ours, run)
    spread_class_scores(ours.roi_heads["box"].predictor.cls_score, run)
    tv.load_state_dict(ours_to_torchvision_state(ours.state_dict()), strict=True)
    return {"body_max_abs_before": before["body_max_abs"][0], "norm_layers_set": num_norms}


def memory_child(args):
    """In a fresh process: build one model, load the prepared weights, measure one step."""
    kind, phase = args.memory_child.split(":")
    device = torch.device(args.device)
    cfg, ours, tv = build_models(args, device, kinds=(kind,))
    state = torch.load(args.state_file, map_location=device, weights_only=True)
    if kind == "ours":
        model = ours
    else:
        model, state = tv, ours_to_torchvision_state(state)
    model.load_state_dict(state, strict=True)
    del ours, tv, state
    runner = make_runners(args, device, model, model, make_inputs(args, cfg))[kind]
    peak, method = cpu_peak_memory(lambda: runner.run(phase))
    print("MEMORY_RESULT " + json.dumps({"kind": kind, "phase": phase, "bytes": peak, "method": method}), flush=True)


def child_argv(args, spec, state_file):
    argv = [
        sys.executable,
        os.path.abspath(__file__),
        "--memory-child",
        spec,
        "--state-file",
        state_file,
        "--device",
        args.device,
        "--threads",
        str(args.threads),
        "--config-file",
        args.config_file,
        "--size",
        str(args.size[0]),
        str(args.size[1]),
        "--seed",
        str(args.seed),
        "--lr",
        str(args.lr),
        "--boxes-per-image",
        str(args.boxes_per_image),
    ]
    for name in (
        "pre_nms_train",
        "post_nms_train",
        "pre_nms_test",
        "post_nms_test",
        "rois_per_image",
        "detections",
        "num_classes",
    ):
        argv += ["--" + name.replace("_", "-"), str(getattr(args, name))]
    if args.stride_in_1x1:
        argv.append("--stride-in-1x1")
    if args.amp:
        argv.append("--amp")
    return argv


def measure_memory(args, device, runners, ours):
    """{(kind, phase): (bytes, method)}."""
    results = {}
    if device.type == "cuda":
        for phase in PHASES:
            for kind in MODELS:
                results[(kind, phase)] = cuda_peak_memory(lambda: runners[kind].run(phase), device)
        return results
    with tempfile.TemporaryDirectory() as tmp:
        state_file = os.path.join(tmp, "ours.pth")
        torch.save(ours.state_dict(), state_file)
        for phase in PHASES:
            for kind in MODELS:
                proc = subprocess.run(child_argv(args, f"{kind}:{phase}", state_file), capture_output=True, text=True)
                line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("MEMORY_RESULT ")), None)
                if proc.returncode != 0 or line is None:
                    raise RuntimeError(
                        f"memory subprocess {kind}:{phase} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
                    )
                r = json.loads(line[len("MEMORY_RESULT ") :])
                results[(kind, phase)] = (r["bytes"], r["method"])
    return results


def summarise(times, memory):
    """Table rows (name, ours, torchvision, unit) of the phases that were run."""
    rows = []
    for phase, unit in (("inference", "s/image"), ("training", "s/iter")):
        if phase not in times:
            continue
        for clock, label in (("wall", "wall"), ("cpu", "CPU (process_time)")):
            med = medians(times[phase], clock)
            rows.append((f"{phase} {label} {unit}, median", med["ours"], med["torchvision"], "s"))
        mins = {k: min(times[phase][k]["wall"]) for k in MODELS}
        rows.append((f"{phase} wall {unit}, min", mins["ours"], mins["torchvision"], "s"))
    for phase in PHASES:
        if ("ours", phase) in memory:
            rows.append(
                (
                    f"{phase} peak memory of one step, MiB ({memory[('ours', phase)][1]})",
                    memory[("ours", phase)][0] / MIB,
                    memory[("torchvision", phase)][0] / MIB,
                    "MiB",
                )
            )
    return rows


def print_table(rows):
    print("\n| measure | ours | torchvision | ours / torchvision |")
    print("|---|---|---|---|")
    for name, ours, tv, unit in rows:
        fmt = "{:.3f}" if unit == "s" else "{:.0f}"
        ratio = f"{ours / tv:.3f}" if tv > 0 else "-"
        print(f"| {name} | {fmt.format(ours)} | {fmt.format(tv)} | {ratio} |")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument(
        "--amp", action="store_true", help="autocast both models (float16 on CUDA with a GradScaler, bfloat16 on CPU)"
    )
    p.add_argument("--size", type=int, nargs=2, default=(800, 1067), metavar=("H", "W"))
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up rounds per phase")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per phase")
    p.add_argument("--train-repeats", type=int, default=None, help="timed training rounds (default: --repeats)")
    p.add_argument("--phases", nargs="+", default=list(PHASES), choices=PHASES)
    p.add_argument("--no-memory", action="store_true", help="skip the peak memory measurement")
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="ROWS",
        help="also print a torch.profiler table of this many ops per model and phase",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 256x352 input, 1 warm-up, 1 repeat")
    p.add_argument("--config-file", default=DEFAULT_CONFIG)
    p.add_argument(
        "--stride-in-1x1",
        action="store_true",
        help="our ResNet with the MSRA layout (stride in the 1x1): cheaper, not the same network as torchvision's",
    )
    p.add_argument("--pre-nms-train", type=int, default=2000)
    p.add_argument("--post-nms-train", type=int, default=1000)
    p.add_argument("--pre-nms-test", type=int, default=1000)
    p.add_argument("--post-nms-test", type=int, default=1000)
    p.add_argument("--rois-per-image", type=int, default=512)
    p.add_argument("--detections", type=int, default=100)
    p.add_argument("--num-classes", type=int, default=81)
    p.add_argument("--boxes-per-image", type=int, default=4)
    p.add_argument(
        "--lr", type=float, default=1e-4, help="SGD learning rate of the timed steps (small: random weights stay sane)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-check", action="store_true", help="time even when a model does not do the full work")
    p.add_argument("--json", default="", help="also write the results here")
    p.add_argument("--memory-child", default="", help=argparse.SUPPRESS)
    p.add_argument("--state-file", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.size, args.warmup, args.repeats = (256, 352), 1, 1
    if args.train_repeats is None:
        args.train_repeats = args.repeats
    if min(args.size) < 64:
        p.error(f"--size {args.size}: both sides must be at least 64 pixels")
    return args


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    if device.type == "cpu" and args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        return memory_child(args)

    cfg, ours, tv = build_models(args, device)
    height, width = args.size
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, device {device}"
        + (
            f" ({torch.cuda.get_device_name(device)})"
            if device.type == "cuda"
            else f" ({torch.get_num_threads()} threads)"
        )
        + f", AMP {'on' if args.amp else 'off'}, input {height}x{width}"
    )
    print_settings(selection_settings(args), cfg, height, width, args.stride_in_1x1)
    for kind, model in (("ours", ours), ("torchvision", tv)):
        total, trainable = count_params(model)
        print(f"{kind}: {total / 1e6:.2f}M parameters, {trainable / 1e6:.2f}M trainable")

    inputs = make_inputs(args, cfg)
    seen = prepare_weights(ours, tv, inputs[0], device)
    print(
        f"\nWeights: random init; max |C5| before calibration {seen['body_max_abs_before']:.0f}; "
        f"{seen['norm_layers_set']} BN layers set from their input's batch statistics; "
        f"class scores spread; copied into torchvision's model (strict key mapping)"
    )
    # the resize factor must be 1: check what torchvision's transform makes of the input
    tv.eval()
    with torch.no_grad():
        transformed, _ = tv.transform([inputs[1][0].to(device)])
    if transformed.image_sizes[0] != (height, width):
        raise SystemExit(f"torchvision's transform resized {height}x{width} to {transformed.image_sizes[0]}")
    runners = make_runners(args, device, ours, tv, inputs)

    print("\nWork done (one step each, after calibration):")
    problems = []
    for phase in args.phases:
        problems += check_work(args, runners, phase)
    if problems:
        print("PROBLEM: " + "; ".join(problems))
        if not args.no_check:
            raise SystemExit(
                "the models do not do the full work; timing would be meaningless (--no-check times anyway)"
            )

    times = {}
    for phase in args.phases:
        repeats = args.repeats if phase == "inference" else args.train_repeats
        print(f"\nTiming {phase}: {args.warmup} warm-up + {repeats} rounds per model ...", flush=True)
        steps = {kind: functools.partial(runner.run, phase) for kind, runner in runners.items()}
        times[phase] = time_alternating(steps, args.warmup, repeats)
        for kind in MODELS:
            print(
                f"  {kind:11s} wall "
                + " ".join(f"{t:.3f}" for t in times[phase][kind]["wall"])
                + "  cpu "
                + " ".join(f"{t:.3f}" for t in times[phase][kind]["cpu"])
            )
        if args.profile:
            profile_runners(runners, phase, args.profile)

    memory = {}
    if not args.no_memory:
        print(
            "\nPeak memory of one step"
            + (" (fresh subprocess per model and phase) ..." if device.type == "cpu" else " ..."),
            flush=True,
        )
        memory = measure_memory(args, device, runners, ours)
        memory = {k: v for k, v in memory.items() if k[1] in args.phases}

    rows = summarise(times, memory)
    print(
        f"\nFaster R-CNN R-50-FPN, {height}x{width}, {device}"
        + (f" ({torch.get_num_threads()} threads)" if device.type == "cpu" else "")
        + f", AMP {'on' if args.amp else 'off'}; inference batch 1, training batch 2; "
        f"medians of {args.repeats} (inference) / {args.train_repeats} (training) rounds"
    )
    print_table(rows)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "args": vars(args),
                    "times": times,
                    "memory": {f"{k}:{p}": v for (k, p), v in memory.items()},
                    "table": rows,
                },
                fh,
                indent=1,
            )
    return rows


if __name__ == "__main__":
    main()
