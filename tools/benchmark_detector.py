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
import gc
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402
from torch import nn  # noqa: E402
from torchvision.models.detection import fasterrcnn_resnet50_fpn  # noqa: E402
from torchvision.ops.misc import FrozenBatchNorm2d as TorchvisionFrozenBatchNorm2d  # noqa: E402

from maskrcnn_benchmark.config import load_config  # noqa: E402
from maskrcnn_benchmark.engine.amp import autocast_context  # noqa: E402
from maskrcnn_benchmark.layers import FrozenBatchNorm2d  # noqa: E402
from maskrcnn_benchmark.modeling.detector import build_detection_model  # noqa: E402
from maskrcnn_benchmark.structures.bounding_box import BoxList  # noqa: E402

DEFAULT_CONFIG = os.path.join(ROOT, "configs", "e2e_faster_rcnn_R_50_FPN_1x.yaml")
MODELS = ("ours", "torchvision")
PHASES = ("inference", "training")
MIB = 1024 * 1024


# ---------------------------------------------------------------------------------------------
# Settings: one table, each side's names for it
# ---------------------------------------------------------------------------------------------

def selection_settings(args):
    return {"pre_nms_train": args.pre_nms_train, "post_nms_train": args.post_nms_train,
            "pre_nms_test": args.pre_nms_test, "post_nms_test": args.post_nms_test,
            "rois_per_image": args.rois_per_image, "detections": args.detections,
            "num_classes": args.num_classes}


def our_overrides(s, stride_in_1x1):
    """Config overrides giving our model the settings `s` (see print_settings for the mapping)."""
    return [
        "MODEL.RPN.PRE_NMS_TOP_N_TRAIN", s["pre_nms_train"],
        # a per-level cap after NMS at least as large as the per-level top-k is no cap at all,
        # as in torchvision, which has none
        "MODEL.RPN.POST_NMS_TOP_N_TRAIN", s["pre_nms_train"],
        "MODEL.RPN.FPN_POST_NMS_TOP_N_TRAIN", s["post_nms_train"],
        "MODEL.RPN.FPN_POST_NMS_PER_BATCH", False,
        "MODEL.RPN.PRE_NMS_TOP_N_TEST", s["pre_nms_test"],
        "MODEL.RPN.POST_NMS_TOP_N_TEST", s["pre_nms_test"],
        "MODEL.RPN.FPN_POST_NMS_TOP_N_TEST", s["post_nms_test"],
        "MODEL.RPN.NMS_THRESH", 0.7,
        "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", s["rois_per_image"],
        "MODEL.ROI_HEADS.POSITIVE_FRACTION", 0.25,
        "MODEL.ROI_HEADS.SCORE_THRESH", 0.05,
        "MODEL.ROI_HEADS.NMS", 0.5,
        "MODEL.ROI_HEADS.DETECTIONS_PER_IMG", s["detections"],
        "MODEL.ROI_BOX_HEAD.NUM_CLASSES", s["num_classes"],
        "MODEL.RESNETS.STRIDE_IN_1X1", stride_in_1x1,
        "MODEL.RESNETS.NORM", "FrozenBN",
        "MODEL.BACKBONE.FREEZE_CONV_BODY_AT", 2,
        "DATALOADER.SIZE_DIVISIBILITY", 32,
    ]


def torchvision_kwargs(s, height, width):
    return dict(
        num_classes=s["num_classes"],
        # resize factor min(min_size / min(h, w), max_size / max(h, w)) = 1: the size is kept
        min_size=min(height, width), max_size=max(height, width),
        image_mean=[0.0, 0.0, 0.0], image_std=[1.0, 1.0, 1.0],
        rpn_pre_nms_top_n_train=s["pre_nms_train"], rpn_post_nms_top_n_train=s["post_nms_train"],
        rpn_pre_nms_top_n_test=s["pre_nms_test"], rpn_post_nms_top_n_test=s["post_nms_test"],
        rpn_nms_thresh=0.7, box_batch_size_per_image=s["rois_per_image"],
        box_positive_fraction=0.25, box_score_thresh=0.05, box_nms_thresh=0.5,
        box_detections_per_img=s["detections"])


def print_settings(s, cfg, height, width, stride_in_1x1):
    rows = [
        ("RPN top-k per level before NMS, training", s["pre_nms_train"],
         "PRE_NMS_TOP_N_TRAIN (per level)", "rpn_pre_nms_top_n_train (per level)"),
        ("RPN proposals per image after NMS, training", s["post_nms_train"],
         f"FPN_POST_NMS_TOP_N_TRAIN (per image: FPN_POST_NMS_PER_BATCH "
         f"{cfg.MODEL.RPN.FPN_POST_NMS_PER_BATCH}; per-level POST_NMS_TOP_N_TRAIN "
         f"{cfg.MODEL.RPN.POST_NMS_TOP_N_TRAIN} = no cap)",
         "rpn_post_nms_top_n_train (per image)"),
        ("RPN top-k per level before NMS, test", s["pre_nms_test"],
         "PRE_NMS_TOP_N_TEST (per level)", "rpn_pre_nms_top_n_test (per level)"),
        ("RPN proposals per image after NMS, test", s["post_nms_test"],
         f"FPN_POST_NMS_TOP_N_TEST (per image; per-level POST_NMS_TOP_N_TEST "
         f"{cfg.MODEL.RPN.POST_NMS_TOP_N_TEST} = no cap)", "rpn_post_nms_top_n_test (per image)"),
        ("RoIs sampled per image, training", s["rois_per_image"],
         "ROI_HEADS.BATCH_SIZE_PER_IMAGE", "box_batch_size_per_image"),
        ("detections per image", s["detections"], "ROI_HEADS.DETECTIONS_PER_IMG",
         "box_detections_per_img"),
        ("classes incl. background", s["num_classes"], "ROI_BOX_HEAD.NUM_CLASSES", "num_classes"),
        ("input size (h x w), kept", f"{height}x{width}", "no resize (tensors given as they are)",
         f"min_size={min(height, width)}, max_size={max(height, width)} (factor 1)"),
        ("normalisation", "once, before both", "none in the model",
         "image_mean 0, image_std 1"),
        ("ResNet-50 stride", "in 1x1" if stride_in_1x1 else "in 3x3",
         f"MODEL.RESNETS.STRIDE_IN_1X1 {stride_in_1x1}", "fixed (3x3)"),
        ("frozen", "BN everywhere, stem + res2", "FrozenBN, FREEZE_CONV_BODY_AT 2",
         "BN -> FrozenBatchNorm2d, conv1 + layer1 frozen"),
    ]
    print("\nSettings (the same work on both sides):")
    print("| setting | value | ours | torchvision |")
    print("|---|---|---|---|")
    for name, value, ours, tv in rows:
        print(f"| {name} | {value} | {ours} | {tv} |")


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------

def our_config(args):
    overrides = our_overrides(selection_settings(args), args.stride_in_1x1)
    return load_config(args.config_file, overrides)


def _freeze_batch_norms(module):
    """Replace every nn.BatchNorm2d below `module` by torchvision's FrozenBatchNorm2d (in place)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, TorchvisionFrozenBatchNorm2d(child.num_features, eps=child.eps))
        else:
            _freeze_batch_norms(child)


def build_torchvision(args):
    """fasterrcnn_resnet50_fpn without any weights, then made like a detector on a pretrained body:
    without weights torchvision trains BatchNorm2d and every layer; we freeze the BN layers and
    the stem + layer1, as it does itself when given backbone weights."""
    model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None,
                                    **torchvision_kwargs(selection_settings(args), *args.size))
    _freeze_batch_norms(model.backbone.body)
    for name, p in model.backbone.body.named_parameters():
        if not name.startswith(("layer2.", "layer3.", "layer4.")):
            p.requires_grad_(False)
    return model


# our key prefix -> torchvision's (everything else, e.g. backbone.body.*, is spelled the same)
_KEY_RULES = (
    (re.compile(r"^backbone\.fpn\.(inner|layer)_blocks\.(\d+)\."), r"backbone.fpn.\1_blocks.\2.0."),
    (re.compile(r"^rpn\.head\.conv\."), "rpn.head.conv.0.0."),
    (re.compile(r"^roi_heads\.box\.feature_extractor\."), "roi_heads.box_head."),
    (re.compile(r"^roi_heads\.box\.predictor\."), "roi_heads.box_predictor."),
)


def ours_to_torchvision_state(state):
    out = {}
    for key, value in state.items():
        for pattern, repl in _KEY_RULES:
            key, n = pattern.subn(repl, key)
            if n:
                break
        out[key] = value
    return out


def count_params(model):
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


# ---------------------------------------------------------------------------------------------
# Sane random weights
# ---------------------------------------------------------------------------------------------

def _has_statistics(module):
    return isinstance(module, (FrozenBatchNorm2d, TorchvisionFrozenBatchNorm2d,
                               nn.modules.batchnorm._BatchNorm)) \
        and getattr(module, "running_mean", None) is not None


@torch.no_grad()
def calibrate_norm_statistics(model, run):
    """Set the statistics of every BN-like layer (frozen or not) of `model` to the per-channel mean
    and variance of its own input during `run()`, which must do one forward pass in eval mode.

    The layers are set in the order the pass reaches them, so each one normalises inputs that the
    layers before it already normalise. Returns the number of layers set.
    """
    def set_from_input(module, inputs):
        x = inputs[0].detach().float()
        dims = [d for d in range(x.dim()) if d != 1]
        module.running_mean.copy_(x.mean(dims))
        module.running_var.copy_(x.var(dims, unbiased=False))

    handles = [m.register_forward_pre_hook(set_from_input)
               for m in model.modules() if _has_statistics(m)]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return len(handles)


@torch.no_grad()
def spread_class_scores(cls_score, run, logit_std=2.5):
    """Rescale the class-score layer so that its logits have standard deviation `logit_std` on the
    features seen during `run()`: with the default init every softmax score is ~1/num_classes,
    below the 0.05 threshold, and inference would stop before the detection NMS."""
    seen = []
    handle = cls_score.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach()))
    try:
        run()
    finally:
        handle.remove()
    if not seen or seen[0].numel() == 0:
        raise RuntimeError("spread_class_scores: the box predictor got no features (no proposals)")
    x = torch.cat([s.float().flatten(1) for s in seen])
    std = (x @ cls_score.weight.float().t()).std().item()
    cls_score.weight.mul_(logit_std / max(std, 1e-12))
    nn.init.zeros_(cls_score.bias)


class ForwardRecorder:
    """Records what chosen submodules return while active: `with ForwardRecorder({name: (module,
    fn)}) as rec: ...` calls fn(output) after each forward and appends the result to rec[name]."""

    def __init__(self, probes):
        self.probes = probes
        self.records = {name: [] for name in probes}
        self._handles = []

    def __enter__(self):
        for name, (module, fn) in self.probes.items():
            self._handles.append(module.register_forward_hook(
                lambda m, i, o, name=name, fn=fn: self.records[name].append(fn(o))))
        return self.records

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()


def _max_abs(features):
    values = features.values() if isinstance(features, dict) else features
    return max(float(f.detach().abs().max()) for f in values)


def work_probes(model, kind):
    """Proposals per image, RoIs pooled per call and the largest |FPN output|."""
    if kind == "ours":
        return {"proposals": (model.rpn, lambda o: [len(b) for b in o[0]] if o[0] else []),
                "rois": (model.roi_heads["box"].feature_extractor.pooler, lambda o: o.shape[0]),
                "fpn_max_abs": (model.backbone, _max_abs)}
    return {"proposals": (model.rpn, lambda o: [len(b) for b in o[0]]),
            "rois": (model.roi_heads.box_roi_pool, lambda o: o.shape[0]),
            "fpn_max_abs": (model.backbone, _max_abs)}


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------

def synthetic_batch(num_images, height, width, seed, pixel_mean, pixel_std, num_boxes=4,
                    num_classes=81):
    """Deterministic images (smooth colour fields with filled rectangles, 0-255, then normalised
    with the model's mean/std) and the rectangles as ground truth [(boxes [n, 4] xyxy, labels)]."""
    g = torch.Generator().manual_seed(seed)
    mean = torch.as_tensor(pixel_mean, dtype=torch.float32)[:, None, None]
    std = torch.as_tensor(pixel_std, dtype=torch.float32)[:, None, None]
    images, targets = [], []
    for _ in range(num_images):
        coarse = torch.rand(1, 3, max(height // 64, 2), max(width // 64, 2), generator=g) * 255
        img = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)[0]
        boxes = []
        for _ in range(num_boxes):
            bw = int(width * (0.1 + 0.4 * torch.rand(1, generator=g)))
            bh = int(height * (0.1 + 0.4 * torch.rand(1, generator=g)))
            x1 = int((width - bw) * torch.rand(1, generator=g))
            y1 = int((height - bh) * torch.rand(1, generator=g))
            img[:, y1:y1 + bh, x1:x1 + bw] = torch.rand(3, 1, 1, generator=g) * 255
            boxes.append([x1, y1, x1 + bw, y1 + bh])
        img = img + 8 * torch.randn(img.shape, generator=g)
        images.append(((img.clamp(0, 255) - mean) / std).contiguous())
        labels = torch.randint(1, num_classes, (num_boxes,), generator=g)
        targets.append((torch.tensor(boxes, dtype=torch.float32), labels))
    return images, targets


def model_targets(kind, targets, height, width, device):
    if kind == "ours":
        out = []
        for boxes, labels in targets:
            t = BoxList(boxes.to(device), (width, height), mode="xyxy")
            t.add_field("labels", labels.to(device))
            out.append(t)
        return out
    return [{"boxes": b.to(device), "labels": lab.to(device)} for b, lab in targets]


# ---------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------

def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Runner:
    """One model with its inputs, optimizer and grad scaler: `.inference()` and `.training()` are
    one measured unit each."""

    def __init__(self, kind, model, device, amp, inference_images, train_images, train_targets,
                 lr):
        self.kind, self.model, self.device, self.amp = kind, model, device, amp
        self.inference_images = [i.to(device) for i in inference_images]
        self.train_images = [i.to(device) for i in train_images]
        height, width = train_images[0].shape[-2:]
        self.train_targets = model_targets(kind, train_targets, height, width, device)
        self.optimizer = None
        self.lr = lr
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
        self.last_loss = None

    def inference(self):
        self.model.eval()
        with torch.inference_mode(), autocast_context(self.device, self.amp):
            out = self.model(self.inference_images)
        sync(self.device)
        return out

    def training(self):
        self.model.train()
        if self.optimizer is None:
            params = [p for p in self.model.parameters() if p.requires_grad]
            self.optimizer = torch.optim.SGD(params, lr=self.lr, momentum=0.9, weight_decay=1e-4)
        self.optimizer.zero_grad(set_to_none=True)
        with autocast_context(self.device, self.amp):
            losses = self.model(self.train_images, self.train_targets)
        loss = sum(losses.values())
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        sync(self.device)
        self.last_loss = loss.detach()
        return losses

    def run(self, phase):
        return self.inference() if phase == "inference" else self.training()


def num_detections(kind, out):
    return [len(o) if kind == "ours" else len(o["boxes"]) for o in out]


# ---------------------------------------------------------------------------------------------
# Setup shared by the timing run and the memory subprocesses
# ---------------------------------------------------------------------------------------------

def build_models(args, device, kinds=MODELS):
    """(cfg, ours or None, torchvision's or None), on `device`."""
    cfg = our_config(args)
    torch.manual_seed(args.seed)
    ours = build_detection_model(cfg).to(device) if "ours" in kinds else None
    tv = build_torchvision(args).to(device) if "torchvision" in kinds else None
    return cfg, ours, tv


def make_inputs(args, cfg):
    height, width = args.size
    kw = dict(pixel_mean=cfg.INPUT.PIXEL_MEAN, pixel_std=cfg.INPUT.PIXEL_STD,
              num_boxes=args.boxes_per_image, num_classes=args.num_classes)
    calib, _ = synthetic_batch(1, height, width, args.seed + 1, **kw)
    inference_images, _ = synthetic_batch(1, height, width, args.seed + 2, **kw)
    train_images, train_targets = synthetic_batch(2, height, width, args.seed + 3, **kw)
    return calib, inference_images, train_images, train_targets


def make_runners(args, device, ours, tv, inputs):
    _, inference_images, train_images, train_targets = inputs
    return {kind: Runner(kind, model, device, args.amp, inference_images, train_images,
                         train_targets, args.lr)
            for kind, model in (("ours", ours), ("torchvision", tv))}


def prepare_weights(ours, tv, calib_images, device):
    """Calibrate our model's statistics and class scores on `calib_images`, copy all into
    torchvision's model; returns what was seen, for the report."""
    images = [i.to(device) for i in calib_images]
    ours.eval()

    def run():
        with torch.no_grad():
            ours(images)

    with ForwardRecorder({"body_max_abs": (ours.backbone.body, _max_abs)}) as before:
        run()
    num_norms = calibrate_norm_statistics(ours, run)
    spread_class_scores(ours.roi_heads["box"].predictor.cls_score, run)
    tv.load_state_dict(ours_to_torchvision_state(ours.state_dict()), strict=True)
    return {"body_max_abs_before": before["body_max_abs"][0], "norm_layers_set": num_norms}


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------

def _proc_status_kib(field):
    with open("/proc/self/status") as fh:
        match = re.search(rf"^{field}:\s+(\d+)\s+kB", fh.read(), re.M)
    return int(match.group(1)) if match else None


def _reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def cpu_peak_memory(step):
    """Peak resident memory of `step()` above the resident memory before it, in bytes."""
    gc.collect()
    if _proc_status_kib("VmHWM") is not None and _reset_peak_rss():
        before = _proc_status_kib("VmRSS")
        step()
        return (_proc_status_kib("VmHWM") - before) * 1024, "VmHWM - VmRSS"
    # ru_maxrss never goes down: this is the peak above the high-water mark so far
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024, "ru_maxrss delta"


def cuda_peak_memory(step, device):
    gc.collect()
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    step()
    return torch.cuda.max_memory_allocated(device) - before, "max_memory_allocated delta"


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
    print("MEMORY_RESULT " + json.dumps({"kind": kind, "phase": phase, "bytes": peak,
                                         "method": method}), flush=True)


def child_argv(args, spec, state_file):
    argv = [sys.executable, os.path.abspath(__file__), "--memory-child", spec,
            "--state-file", state_file, "--device", args.device, "--threads", str(args.threads),
            "--config-file", args.config_file, "--size", str(args.size[0]), str(args.size[1]),
            "--seed", str(args.seed), "--lr", str(args.lr),
            "--boxes-per-image", str(args.boxes_per_image)]
    for name in ("pre_nms_train", "post_nms_train", "pre_nms_test", "post_nms_test",
                 "rois_per_image", "detections", "num_classes"):
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
                proc = subprocess.run(child_argv(args, f"{kind}:{phase}", state_file),
                                      capture_output=True, text=True)
                line = next((ln for ln in proc.stdout.splitlines()
                             if ln.startswith("MEMORY_RESULT ")), None)
                if proc.returncode != 0 or line is None:
                    raise RuntimeError(f"memory subprocess {kind}:{phase} failed "
                                       f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}")
                r = json.loads(line[len("MEMORY_RESULT "):])
                results[(kind, phase)] = (r["bytes"], r["method"])
    return results


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------

def time_alternating(runners, phase, warmup, repeats):
    """{kind: {"wall": [...], "cpu": [...]}} over `repeats` rounds after `warmup` rounds."""
    times = {kind: {"wall": [], "cpu": []} for kind in runners}
    for _ in range(warmup):
        for kind in runners:
            runners[kind].run(phase)
    for r in range(repeats):
        order = list(runners) if r % 2 == 0 else list(runners)[::-1]
        for kind in order:
            wall, cpu = time.perf_counter(), time.process_time()
            runners[kind].run(phase)
            times[kind]["wall"].append(time.perf_counter() - wall)
            times[kind]["cpu"].append(time.process_time() - cpu)
    return times


def check_work(args, runners, phase):
    """One step of each model with probes; prints proposals, RoIs, detections and feature sizes
    and returns a list of problems (proposals far below the set number, no RoIs, non-finite)."""
    expected = args.post_nms_test if phase == "inference" else args.post_nms_train
    problems = []
    for kind, runner in runners.items():
        with ForwardRecorder(work_probes(runner.model, kind)) as rec:
            out = runner.run(phase)
        proposals = [n for call in rec["proposals"] for n in call]
        rois = sum(rec["rois"])
        extra = ""
        if phase == "inference":
            extra = f", detections per image {num_detections(kind, out)}"
        else:
            extra = ", losses " + ", ".join(f"{k} {v.detach().item():.3f}"
                                            for k, v in sorted(out.items()))
        print(f"  {kind:11s} {phase}: proposals per image {proposals}, RoIs pooled {rois}, "
              f"max |FPN output| {max(rec['fpn_max_abs']):.1f}{extra}")
        if phase == "training":
            # our RPN appends the ground truth to its proposals; torchvision's box head does
            proposals = [n - (args.boxes_per_image if kind == "ours" else 0) for n in proposals]
        if not proposals or min(proposals) < 0.9 * expected:
            problems.append(f"{kind} {phase}: {proposals} proposals per image, "
                            f"expected ~{expected}")
        if rois == 0:
            problems.append(f"{kind} {phase}: no RoIs reached the box head")
        if phase == "training" and not torch.isfinite(runner.last_loss):
            problems.append(f"{kind} {phase}: non-finite loss {float(runner.last_loss)}")
    return problems


def profile_runners(runners, phase, row_limit):
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    for kind, runner in runners.items():
        with profile(activities=activities) as prof:
            runner.run(phase)
        sort = "self_cuda_time_total" if runner.device.type == "cuda" else "self_cpu_time_total"
        print(f"\nProfile: {kind} {phase}")
        print(prof.key_averages().table(sort_by=sort, row_limit=row_limit))


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def summarise(times, memory):
    """Table rows (name, ours, torchvision, unit) of the phases that were run."""
    rows = []
    for phase, unit in (("inference", "s/image"), ("training", "s/iter")):
        if phase not in times:
            continue
        for clock, label in (("wall", "wall"), ("cpu", "CPU (process_time)")):
            med = {k: statistics.median(times[phase][k][clock]) for k in MODELS}
            rows.append((f"{phase} {label} {unit}, median", med["ours"], med["torchvision"], "s"))
        mins = {k: min(times[phase][k]["wall"]) for k in MODELS}
        rows.append((f"{phase} wall {unit}, min", mins["ours"], mins["torchvision"], "s"))
    for phase in PHASES:
        if ("ours", phase) in memory:
            rows.append((f"{phase} peak memory of one step, MiB ({memory[('ours', phase)][1]})",
                         memory[("ours", phase)][0] / MIB,
                         memory[("torchvision", phase)][0] / MIB, "MiB"))
    return rows



def print_table(rows):
    print("\n| measure | ours | torchvision | ours / torchvision |")
    print("|---|---|---|---|")
    for name, ours, tv, unit in rows:
        fmt = "{:.3f}" if unit == "s" else "{:.0f}"
        ratio = f"{ours / tv:.3f}" if tv > 0 else "-"
        print(f"| {name} | {fmt.format(ours)} | {fmt.format(tv)} | {ratio} |")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--amp", action="store_true",
                   help="autocast both models (float16 on CUDA with a GradScaler, bfloat16 on CPU)")
    p.add_argument("--size", type=int, nargs=2, default=(800, 1067), metavar=("H", "W"))
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--warmup", type=int, default=2, help="warm-up rounds per phase")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per phase")
    p.add_argument("--train-repeats", type=int, default=None,
                   help="timed training rounds (default: --repeats)")
    p.add_argument("--phases", nargs="+", default=list(PHASES), choices=PHASES)
    p.add_argument("--no-memory", action="store_true", help="skip the peak memory measurement")
    p.add_argument("--profile", type=int, default=0, metavar="ROWS",
                   help="also print a torch.profiler table of this many ops per model and phase")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 256x352 input, 1 warm-up, 1 repeat")
    p.add_argument("--config-file", default=DEFAULT_CONFIG)
    p.add_argument("--stride-in-1x1", action="store_true",
                   help="our ResNet with the MSRA layout (stride in the 1x1): cheaper, not the "
                        "same network as torchvision's")
    p.add_argument("--pre-nms-train", type=int, default=2000)
    p.add_argument("--post-nms-train", type=int, default=1000)
    p.add_argument("--pre-nms-test", type=int, default=1000)
    p.add_argument("--post-nms-test", type=int, default=1000)
    p.add_argument("--rois-per-image", type=int, default=512)
    p.add_argument("--detections", type=int, default=100)
    p.add_argument("--num-classes", type=int, default=81)
    p.add_argument("--boxes-per-image", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-4,
                   help="SGD learning rate of the timed steps (small: random weights stay sane)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-check", action="store_true",
                   help="time even when a model does not do the full work")
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
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else
             f" ({torch.get_num_threads()} threads)")
          + f", AMP {'on' if args.amp else 'off'}, input {height}x{width}")
    print_settings(selection_settings(args), cfg, height, width, args.stride_in_1x1)
    for kind, model in (("ours", ours), ("torchvision", tv)):
        total, trainable = count_params(model)
        print(f"{kind}: {total / 1e6:.2f}M parameters, {trainable / 1e6:.2f}M trainable")

    inputs = make_inputs(args, cfg)
    seen = prepare_weights(ours, tv, inputs[0], device)
    print(f"\nWeights: random init; max |C5| before calibration {seen['body_max_abs_before']:.0f}; "
          f"{seen['norm_layers_set']} BN layers set from their input's batch statistics; "
          f"class scores spread; copied into torchvision's model (strict key mapping)")
    # the resize factor must be 1: check what torchvision's transform makes of the input
    tv.eval()
    with torch.no_grad():
        transformed, _ = tv.transform([inputs[1][0].to(device)])
    if transformed.image_sizes[0] != (height, width):
        raise SystemExit(f"torchvision's transform resized {height}x{width} to "
                         f"{transformed.image_sizes[0]}")
    runners = make_runners(args, device, ours, tv, inputs)

    print("\nWork done (one step each, after calibration):")
    problems = []
    for phase in args.phases:
        problems += check_work(args, runners, phase)
    if problems:
        print("PROBLEM: " + "; ".join(problems))
        if not args.no_check:
            raise SystemExit("the models do not do the full work; timing would be meaningless "
                             "(--no-check times anyway)")

    times = {}
    for phase in args.phases:
        repeats = args.repeats if phase == "inference" else args.train_repeats
        print(f"\nTiming {phase}: {args.warmup} warm-up + {repeats} rounds per model ...",
              flush=True)
        times[phase] = time_alternating(runners, phase, args.warmup, repeats)
        for kind in MODELS:
            print(f"  {kind:11s} wall " + " ".join(f"{t:.3f}" for t in times[phase][kind]["wall"])
                  + "  cpu " + " ".join(f"{t:.3f}" for t in times[phase][kind]["cpu"]))
        if args.profile:
            profile_runners(runners, phase, args.profile)

    memory = {}
    if not args.no_memory:
        print("\nPeak memory of one step"
              + (" (fresh subprocess per model and phase) ..." if device.type == "cpu" else
                 " ..."), flush=True)
        memory = measure_memory(args, device, runners, ours)
        memory = {k: v for k, v in memory.items() if k[1] in args.phases}

    rows = summarise(times, memory)
    print(f"\nFaster R-CNN R-50-FPN, {height}x{width}, {device}"
          + (f" ({torch.get_num_threads()} threads)" if device.type == "cpu" else "")
          + f", AMP {'on' if args.amp else 'off'}; inference batch 1, training batch 2; "
          f"medians of {args.repeats} (inference) / {args.train_repeats} (training) rounds")
    print_table(rows)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "times": times,
                       "memory": {f"{k}:{p}": v for (k, p), v in memory.items()},
                       "table": rows}, fh, indent=1)
    return rows


if __name__ == "__main__":
    main()
