"""One measured unit per model and phase (`Runner`), and the probes that check both detectors do the
full work: proposals per image, RoIs pooled, detections, the size of the features."""

import torch

from maskrcnn_benchmark.engine.amp import autocast_context

from .synthetic_inputs import model_targets
from .timing import sync


class ForwardRecorder:
    """Records what chosen submodules return while active: `with ForwardRecorder({name: (module,
    fn)}) as rec: ...` calls fn(output) after each forward and appends the result to rec[name]."""

    def __init__(self, probes):
        self.probes = probes
        self.records = {name: [] for name in probes}
        self._handles = []

    def __enter__(self):
        for name, (module, fn) in self.probes.items():
            self._handles.append(
                module.register_forward_hook(lambda m, i, o, name=name, fn=fn: self.records[name].append(fn(o)))
            )
        return self.records

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()


def max_abs(features):
    values = features.values() if isinstance(features, dict) else features
    return max(float(f.detach().abs().max()) for f in values)


def work_probes(model, kind):
    """Proposals per image, RoIs pooled per call and the largest |FPN output|."""
    if kind == "ours":
        return {
            "proposals": (model.rpn, lambda o: [len(b) for b in o[0]] if o[0] else []),
            "rois": (model.roi_heads["box"].feature_extractor.pooler, lambda o: o.shape[0]),
            "fpn_max_abs": (model.backbone, max_abs),
        }
    return {
        "proposals": (model.rpn, lambda o: [len(b) for b in o[0]]),
        "rois": (model.roi_heads.box_roi_pool, lambda o: o.shape[0]),
        "fpn_max_abs": (model.backbone, max_abs),
    }


class Runner:
    """One model with its inputs, optimizer and grad scaler: `.inference()` and `.training()` are
    one measured unit each."""

    def __init__(self, kind, model, device, amp, inference_images, train_images, train_targets, lr):
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
            extra = ", losses " + ", ".join(f"{k} {v.detach().item():.3f}" for k, v in sorted(out.items()))
        print(
            f"  {kind:11s} {phase}: proposals per image {proposals}, RoIs pooled {rois}, "
            f"max |FPN output| {max(rec['fpn_max_abs']):.1f}{extra}"
        )
        if phase == "training":
            # our RPN appends the ground truth to its proposals; torchvision's box head does
            proposals = [n - (args.boxes_per_image if kind == "ours" else 0) for n in proposals]
        if not proposals or min(proposals) < 0.9 * expected:
            problems.append(f"{kind} {phase}: {proposals} proposals per image, expected ~{expected}")
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
