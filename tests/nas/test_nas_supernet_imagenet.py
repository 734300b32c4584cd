"""Supernet-ImageNet/train.py end to end on a tiny generated ImageFolder (subprocesses, CPU)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from maskrcnn_benchmark.modeling.backbone.detnas import DetNASBody
from maskrcnn_benchmark.nas import extract_subnet, load_backbone_weights, parse_arch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(REPO, "Supernet-ImageNet", "train.py")
EXPORT = os.path.join(REPO, "Supernet-ImageNet", "export.py")


def _write_random_image_folder(root, num_classes, train_per_class, val_per_class, size, seed):
    rng = np.random.default_rng(seed)
    for split, n in (("train", train_per_class), ("val", val_per_class)):
        for k in range(num_classes):
            folder = os.path.join(root, split, f"class{k}")
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
                img[..., k % 3] = 40 * k  # a class-dependent channel: learnable
                Image.fromarray(img).save(os.path.join(folder, f"{i}.png"))


@pytest.fixture(scope="module")
def tiny_imagefolder(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tiny_cls"))
    try:
        from maskrcnn_benchmark.data.datasets.synthetic_classification import make_classification_dataset
    except ImportError:  # the data package's generator is optional here
        _write_random_image_folder(root, 4, 12, 4, 32, seed=0)
    else:
        make_classification_dataset(root, num_classes=4, train_per_class=12, val_per_class=4, image_size=32, seed=0)
    return root


def run_train(data, out, *args, check=True):
    cmd = [
        sys.executable,
        TRAIN,
        "--data",
        data,
        "--output-dir",
        str(out),
        "--size",
        "300M",
        "--batch-size",
        "8",
        "--input-size",
        "32",
        "--workers",
        "0",
        "--threads",
        "1",
        "--lr",
        "0.1",
        "--log-interval",
        "1",
        "--val-batch-size",
        "8",
        *map(str, args),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"train.py failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.slow  # three train.py runs: ~15 s on an idle 2-core box, 30 s on a busy one
def test_supernet_run_resumes_exactly_and_exports(tiny_imagefolder, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    export = tmp_path / "supernet_export.pth"
    run_train(
        tiny_imagefolder,
        straight,
        "--total-iters",
        4,
        "--eval-interval",
        0,
        "--eval-paths",
        1,
        "--bn-recal-batches",
        1,
        "--export",
        export,
    )
    run_train(tiny_imagefolder, split, "--total-iters", 4, "--stop-at", 2, "--eval-interval", -1)
    mid = load(split / "checkpoint_last.pth")
    assert mid["iteration"] == 2
    # an existing run is never overwritten silently
    refused = run_train(tiny_imagefolder, split, "--total-iters", 4, check=False)
    assert refused.returncode != 0 and "pass --resume" in refused.stderr
    run_train(tiny_imagefolder, split, "--total-iters", 4, "--resume", "--eval-interval", -1)

    a, b = load(straight / "checkpoint_last.pth"), load(split / "checkpoint_last.pth")
    assert a["iteration"] == b["iteration"] == 4
    assert a["meta"]["arch"] == "supernet" and a["meta"]["channel_split"]
    # same samples, augmentations and paths: the interrupted run ends bitwise where the other does
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 4

    # a log with losses and an evaluation of a recalibrated path
    records = [json.loads(line) for line in open(straight / "metrics.jsonl")]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) == 4 and all(np.isfinite(losses))
    evals = [r["eval"] for r in records if "eval" in r]
    assert len(evals) == 1 and 0.0 <= evals[0][0]["top1"] <= 1.0
    assert evals[0][0]["images"] == 16
    assert "eta" in open(straight / "log.txt").read()

    # the export holds the body only and loads into a fixed body of any path
    body = DetNASBody("300M", "FPN-300M")
    meta = load_backbone_weights(body, export)
    assert meta["arch"] == "supernet" and meta["iteration"] == 4
    body_state = {k[5:]: v for k, v in a["model"].items() if k.startswith("body.")}
    ref = extract_subnet(body_state, body.arch)
    for k, v in body.state_dict().items():
        assert torch.equal(v, ref[k]), k


def test_fixed_run_evaluates_and_exports_with_the_cli(tiny_imagefolder, tmp_path):
    out = tmp_path / "fixed"
    run_train(
        tiny_imagefolder, out, "--mode", "fixed", "--arch", "RetinaNet-300M", "--total-iters", 2, "--eval-interval", 0
    )
    ckpt = load(out / "checkpoint_last.pth")
    assert ckpt["meta"]["arch"] == "23113213311133203333"
    assert not any(k.startswith("body.blocks.0.0.") for k in ckpt["model"])  # not a supernet
    export = tmp_path / "fixed_export.pth"
    proc = subprocess.run(
        [sys.executable, EXPORT, str(out / "checkpoint_last.pth"), "--output", str(export)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    body = DetNASBody("300M", "RetinaNet-300M")
    load_backbone_weights(body, export)
    assert torch.equal(body.stem[0].weight, ckpt["model"]["body.stem.0.weight"])
    raw = load(export)
    assert not any(k.startswith(("fc.", "conv_last.")) for k in raw["model"])
    records = [json.loads(line) for line in open(out / "metrics.jsonl")]
    assert [r for r in records if "eval" in r][0]["eval"][0]["arch"] == "23113213311133203333"


def _import_train():
    """train.py as a module (it puts Supernet-ImageNet/ on sys.path for its siblings)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("supernet_imagenet_train", TRAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_argument_errors(tmp_path, capsys):
    train = _import_train()
    base = ["--data", str(tmp_path)]
    with pytest.raises(SystemExit):
        train.get_args(base + ["--mode", "fixed"])
    assert "--mode fixed needs --arch" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.get_args(base + ["--mode", "fixed", "--arch", "0123"])
    assert "needs 20 entries" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.get_args(base + ["--size", "2G", "--eval-arch", "0"])
    assert "unknown DetNAS size" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.get_args(base + ["--arch", "FPN-300M"])
    assert "a supernet is evaluated on --eval-arch" in capsys.readouterr().err
    args = train.get_args(base + ["--mode", "fixed", "--arch", "FPN-300M", "--size", "300M"])
    assert args.arch == parse_arch("FPN-300M", "300M")
    # the recipe defaults
    args = train.get_args(base)
    assert (
        args.batch_size,
        args.total_iters,
        args.lr,
        args.momentum,
        args.wd,
        args.label_smoothing,
        args.input_size,
        args.flops_bins,
    ) == (1024, 300000, 0.5, 0.9, 4e-5, 0.1, 224, 10)
    with pytest.raises(FileNotFoundError, match="no 'train' folder"):
        train.image_folder(str(tmp_path / "nowhere"), "train")


def test_weight_decay_only_on_conv_and_linear_weights():
    train = _import_train()
    model = train.DetNASClassifier("300M", 10, arch="FPN-300M")
    decay, no_decay = train.parameter_groups(model, 4e-5)
    assert decay["weight_decay"] == 4e-5 and no_decay["weight_decay"] == 0.0
    decay_ids = {id(p) for p in decay["params"]}
    for name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            expected = isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and pname == "weight"
            assert (id(p) in decay_ids) == expected, f"{name}.{pname}"
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_sampler_gives_each_rank_its_slice_and_resumes():
    data = _import_train().IterationSampler
    full = data(10, 4, 1, 0, seed=3, start_iter=0, end_iter=5)
    r0 = data(10, 2, 2, 0, seed=3, start_iter=0, end_iter=5)
    r1 = data(10, 2, 2, 1, seed=3, start_iter=0, end_iter=5)
    for a, b, c in zip(full, r0, r1):
        assert a == b + c  # two ranks split the same global batch
    late = data(10, 4, 1, 0, seed=3, start_iter=3, end_iter=5)
    assert list(late) == list(full)[3:]
    indices = [i for batch in data(10, 5, 1, 0, 3, 0, 2) for i, _ in batch]
    assert sorted(indices) == list(range(10))  # an epoch is a permutation


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tiny_imagefolder, tmp_path):
    """DDP over gloo through the launch script: SyncBN, one path per step on both ranks, the val
    set sharded and summed, BN recalibrated identically on both ranks."""
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", NGPUS="0", PYTHON=sys.executable)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        TRAIN,
        "--device",
        "cpu",
        "--data",
        tiny_imagefolder,
        "--output-dir",
        str(out),
        "--batch-size",
        "8",
        "--input-size",
        "32",
        "--workers",
        "0",
        "--threads",
        "1",
        "--total-iters",
        "3",
        "--norm",
        "SyncBN",
        "--lr",
        "0.1",
        "--log-interval",
        "1",
        "--eval-interval",
        "0",
        "--eval-paths",
        "1",
        "--bn-recal-batches",
        "1",
        "--val-batch-size",
        "4",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ckpt = load(out / "checkpoint_last.pth")
    assert ckpt["iteration"] == 3 and ckpt["meta"]["norm"] == "SyncBN"
    records = [json.loads(line) for line in open(out / "metrics.jsonl")]
    evals = [r["eval"] for r in records if "eval" in r]
    assert evals[0][0]["images"] == 16  # both shards counted once


def test_launch_script_forwards_arguments(tmp_path):
    env = dict(os.environ, NGPUS="0", PYTHON=sys.executable)
    proc = subprocess.run(
        ["bash", os.path.join(REPO, "scripts", "run_supernet_imagenet.sh"), "--help"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--flops-bins" in proc.stdout
