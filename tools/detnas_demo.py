#!/usr/bin/env python
"""The whole DetNAS pipeline on the project's own generated data, in one command.

    bash scripts/run_detnas_demo.sh [--output-dir output/demo] [--device cpu|cuda] [--broker URL]

Stages (each skipped when its output exists, so running the command again resumes):
  1 data       shapes detection set (train, minival, search-train/search-val) + a classification set
  2 pretrain   the 300M supernet on the classification set ("ImageNet")
  3 finetune   the supernet inside Faster R-CNN + FPN on search-train, one path per iteration
  4 search     evolutionary search, each candidate: BN recalibration + AP on search-val
  5 random     as many random architectures under the FLOPs limit, evaluated the same way
  6 retrain    the best found and the released DetNAS-300M architecture: classification
               pre-training, then detection training on train, AP on minival
  7 report     summary.json, search_progress.png, detections_minival.png and a table

Every stage runs the project's own tools as a user would (Supernet-ImageNet/train.py,
tools/train_net.py, distributed_arch_search), with their logs (ETA lines, progress bars) shown and
kept under <output-dir>/logs/.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SEARCH_CONFIG = "configs/quick_schedules/e2e_faster_rcnn_detnas_fpn_300M_search_shapes.yaml"
RETRAIN_CONFIG = "configs/quick_schedules/e2e_faster_rcnn_detnas_fpn_300M_shapes.yaml"
RELEASED = "21202112331300313132"  # DetNAS FPN-300M, as released with the paper
MAX_FLOPS = "300M"

# "default" fits the 20-minute budget of a 2-core CPU; "tiny" is the smoke test's size.
SCALES = {
    "default": dict(
        shapes_train=1200, shapes_minival=200, search_val=200, min_image=96, max_image=128,
        cls_classes=8, cls_train=100, cls_val=20, cls_image=48, cls_batch=32,
        cls_supernet_iters=300, cls_fixed_iters=150, cls_lr=0.02,
        det_batch=8, det_lr=0.04, supernet_iters=800, retrain_iters=700,
        bn_recal_images=64, population=8, generations=3, parents=4, mutants=2, crossovers=2,
        workers=2, drawn_images=4,
    ),
    "tiny": dict(
        shapes_train=40, shapes_minival=8, search_val=8, min_image=64, max_image=64,
        cls_classes=4, cls_train=8, cls_val=4, cls_image=32, cls_batch=8,
        cls_supernet_iters=4, cls_fixed_iters=4, cls_lr=0.02,
        det_batch=4, det_lr=0.02, supernet_iters=6, retrain_iters=6,
        bn_recal_images=8, population=3, generations=2, parents=2, mutants=1, crossovers=0,
        workers=2, drawn_images=2,
    ),
}


class DemoError(RuntimeError):
    pass


class Demo:
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.output_dir)
        self.s = SCALES[args.scale]
        self.device = args.device
        self.datasets = os.path.join(self.out, "datasets")
        self.logs = os.path.join(self.out, "logs")
        self.pretrained = os.path.join(self.out, "pretrained")
        for d in (self.out, self.logs, self.pretrained):
            os.makedirs(d, exist_ok=True)
        self.times_path = os.path.join(self.out, "stage_seconds.json")
        self.times = _read_json(self.times_path, {})

    # ------------------------------------------------------------------ plumbing
    def env(self, threads=None):
        env = dict(os.environ, DETNAS_DATASETS=self.datasets, PYTHONUNBUFFERED="1",
                   PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        return env

    def run(self, name, cmd, threads=None):
        """Run a command, showing its output and keeping it in logs/<name>.log."""
        log_path = os.path.join(self.logs, f"{name}.log")
        print(f"$ {' '.join(cmd)}", flush=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, cwd=REPO, env=self.env(threads), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            tail = b""
            while True:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                log.write(chunk)
                if not self.args.quiet:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()
                tail = (tail + chunk)[-3000:]
            code = proc.wait()
        if code != 0:
            raise DemoError(f"{name} failed (exit {code}); full log: {log_path}\n"
                            f"{tail.decode(errors='replace')}")

    def stage(self, number, name, title, done, work):
        header = f"[{number}/7] {title}"
        if done():
            print(f"\n== {header}: already done, skipped ==", flush=True)
            return
        print(f"\n== {header} ==", flush=True)
        start = time.monotonic()
        work()
        self.times[name] = round(time.monotonic() - start, 1)
        _write_json(self.times_path, self.times)
        print(f"== {header}: done in {_fmt_seconds(self.times[name])} ==", flush=True)

    def py(self, *args):
        return [sys.executable, *args]

    # ------------------------------------------------------------------ stages
    def make_data(self):
        from maskrcnn_benchmark.data.datasets.synthetic_classification import (
            make_classification_dataset)
        from maskrcnn_benchmark.data.datasets.synthetic_shapes import make_shapes_dataset

        s = self.s
        shapes = os.path.join(self.datasets, "shapes")
        paths = make_shapes_dataset(shapes, num_train=s["shapes_train"],
                                    num_minival=s["shapes_minival"], num_search_val=s["search_val"],
                                    min_image_size=s["min_image"], max_image_size=s["max_image"],
                                    seed=self.args.seed)
        print("shapes:", ", ".join(f"{k} -> {v}" for k, v in paths.items()))
        make_classification_dataset(os.path.join(self.datasets, "tiny_cls"),
                                    num_classes=s["cls_classes"], train_per_class=s["cls_train"],
                                    val_per_class=s["cls_val"], image_size=s["cls_image"],
                                    seed=self.args.seed)
        print("classification set:", os.path.join(self.datasets, "tiny_cls"))
        open(os.path.join(self.datasets, "COMPLETE"), "w").close()

    def classification_cmd(self, mode, out_dir, export, iters, arch=None):
        s = self.s
        cmd = self.py("Supernet-ImageNet/train.py", "--mode", mode, "--size", "300M",
                      "--data", os.path.join(self.datasets, "tiny_cls"),
                      "--input-size", str(s["cls_image"]), "--batch-size", str(s["cls_batch"]),
                      "--total-iters", str(iters), "--lr", str(s["cls_lr"]), "--workers", "0",
                      "--device", self.device, "--eval-interval", "0", "--eval-paths", "2",
                      "--bn-recal-batches", "4", "--log-interval", str(max(iters // 6, 1)),
                      "--seed", str(self.args.seed), "--output-dir", out_dir, "--export", export)
        if os.path.exists(os.path.join(out_dir, "checkpoint_last.pth")):
            cmd.append("--resume")
        if arch is not None:
            cmd += ["--arch", arch]
        return cmd

    def pretrain_supernet(self):
        self.run("2_pretrain_supernet", self.classification_cmd(
            "supernet", os.path.join(self.out, "pretrain_supernet"), self.supernet_export,
            self.s["cls_supernet_iters"]))

    def detection_schedule(self, iters):
        s = self.s
        return ["SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", f"({int(iters * 0.8)},)",
                "SOLVER.WARMUP_ITERS", str(min(50, max(iters // 10, 1))),
                "SOLVER.IMS_PER_BATCH", str(s["det_batch"]), "SOLVER.BASE_LR", str(s["det_lr"]),
                "SOLVER.CHECKPOINT_PERIOD", str(max(iters // 4, 1)),
                "SOLVER.LOG_PERIOD", str(max(iters // 20, 1)), "MODEL.DEVICE", self.device,
                "SEED", str(self.args.seed)]

    def finetune_supernet(self):
        self.run("3_finetune_supernet", self.py(
            "tools/train_net.py", "--skip-test", "--config-file", SEARCH_CONFIG,
            "MODEL.WEIGHT", self.supernet_export, "OUTPUT_DIR", self.supernet_dir,
            "NAS.BN_RECAL_IMAGES", str(self.s["bn_recal_images"]),
            *self.detection_schedule(self.s["supernet_iters"])))

    def evaluator_args(self):
        return ["--evaluator", "detector", "--config-file", SEARCH_CONFIG,
                "--weights", os.path.join(self.supernet_dir, "model_final.pth"),
                "--opts", "NAS.BN_RECAL_IMAGES", str(self.s["bn_recal_images"]),
                "MODEL.DEVICE", self.device]

    def search_cmd(self, experiment, out_dir, random_only):
        s = self.s
        evolution = ["EVOLUTION.POPULATION_SIZE", str(s["population"]),
                     "EVOLUTION.NUM_GENERATIONS", str(s["generations"]),
                     "EVOLUTION.NUM_PARENTS", str(s["parents"]),
                     "EVOLUTION.MAX_FLOPS", MAX_FLOPS, "MASTER.TOP_K", str(s["parents"])]
        if random_only:  # the baseline: every generation drawn at random, another seed
            evolution += ["EVOLUTION.NUM_MUTANTS", "0", "EVOLUTION.NUM_CROSSOVERS", "0",
                          "EVOLUTION.SEED", str(self.args.seed + 1)]
        else:
            evolution += ["EVOLUTION.NUM_MUTANTS", str(s["mutants"]),
                          "EVOLUTION.NUM_CROSSOVERS", str(s["crossovers"]),
                          "EVOLUTION.SEED", str(self.args.seed)]
        cmd = self.py("-m", "distributed_arch_search.search", "--experiment", experiment,
                      "--output-dir", out_dir, *evolution)
        if self.args.broker:
            return cmd[:3] + ["--backend", "rabbitmq", "--amqp-url", self.args.broker] + cmd[3:]
        gpus = "[0]" if self.device.startswith("cuda") else "[]"
        return cmd[:3] + ["--backend", "local"] + cmd[3:] + [
            "LOCAL.NUM_WORKERS", str(s["workers"]), "LOCAL.GPUS", gpus,
            "LOCAL.SERVER_ARGS", repr(self.evaluator_args())]

    def run_search(self, name, experiment, out_dir, random_only):
        cmd = self.search_cmd(experiment, out_dir, random_only)
        # Each evaluator process computes on one thread; two of them use both cores.
        if not self.args.broker:
            self.run(name, cmd, threads=1)
            return
        servers = self.start_servers(experiment, out_dir)
        try:
            self.run(name, cmd, threads=1)
        finally:
            self.stop_servers(servers)
            self.run(f"{name}_cleanup", self.py(
                "-m", "distributed_arch_search.search", "--experiment", experiment,
                "--amqp-url", self.args.broker, "--output-dir", out_dir, "--delete-queues"))

    def start_servers(self, experiment, out_dir):
        procs = []
        for i in range(self.s["workers"]):
            log = open(os.path.join(self.logs, f"server_{experiment}_{i}.log"), "ab")
            gpu = ["--gpu", "0"] if self.device.startswith("cuda") else []
            cmd = self.py("-m", "distributed_arch_search.test_server", "--experiment", experiment,
                          "--output-dir", out_dir, "--amqp-url", self.args.broker, *gpu,
                          *self.evaluator_args())
            procs.append(subprocess.Popen(cmd, cwd=REPO, env=self.env(threads=1), stdout=log,
                                          stderr=subprocess.STDOUT))
        print(f"started {len(procs)} evaluation servers on the broker "
              f"(logs: {self.logs}/server_{experiment}_*.log)", flush=True)
        return procs

    def stop_servers(self, procs):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        print("evaluation servers stopped", flush=True)

    def retrain(self, name, arch):
        """Classification pre-training then detection training of one architecture; its metrics."""
        export = os.path.join(self.pretrained, f"{name}_300M.pth")
        if not os.path.exists(export):
            self.run(f"6_retrain_{name}_pretrain", self.classification_cmd(
                "fixed", os.path.join(self.out, f"pretrain_{name}"), export,
                self.s["cls_fixed_iters"], arch=arch))
        out_dir = os.path.join(self.out, f"retrain_{name}")
        if not os.path.exists(self.minival_metrics_path(name)):
            self.run(f"6_retrain_{name}_detection", self.py(
                "tools/train_net.py", "--config-file", RETRAIN_CONFIG,
                "MODEL.BACKBONE.ARCH", arch, "MODEL.WEIGHT", export, "OUTPUT_DIR", out_dir,
                *self.detection_schedule(self.s["retrain_iters"])))

    def minival_metrics_path(self, name):
        return os.path.join(self.out, f"retrain_{name}", "inference", "shapes_minival",
                            "metrics.json")

    def retrain_both(self):
        best = self.best_arch()
        self.retrain("best", best)
        if best == RELEASED:  # the search found the released architecture: one retraining serves
            src, dst = self.minival_metrics_path("best"), self.minival_metrics_path("released")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy(src, dst)
        else:
            self.retrain("released", RELEASED)

    # ------------------------------------------------------------------ results
    @property
    def supernet_export(self):
        return os.path.join(self.pretrained, "supernet_300M.pth")

    @property
    def supernet_dir(self):
        return os.path.join(self.out, "supernet")

    def search_results(self, folder):
        path = os.path.join(self.out, folder, "search_results.json")
        results = _read_json(path, None)
        if results is None:
            raise DemoError(f"{path} is missing: the search stage did not finish")
        return results

    def search_done(self, folder):
        results = _read_json(os.path.join(self.out, folder, "search_results.json"), None)
        return bool(results and results.get("finished"))

    def best_arch(self):
        return self.search_results("search")["best"]["arch"]

    def report(self):
        from maskrcnn_benchmark.nas import count_flops

        search = self.search_results("search")
        random_aps = [r["ap"] for r in self.search_results("random_search")["results"]
                      if r["status"] == "ok"]
        best = search["best"]
        # Median AP of the candidates each generation evaluated: rising when the evolution works,
        # even where its best only ties the best random architecture.
        by_generation = {}
        for r in search["results"]:
            if r["status"] == "ok":
                by_generation.setdefault(r["generation"], []).append(r["ap"])
        minival = {n: _read_json(self.minival_metrics_path(n), {}).get("bbox", {})
                   for n in ("best", "released")}
        summary = {
            "best_arch": best["arch"],
            "best_flops": count_flops("300M", best["arch"]),
            "best_search_val_ap": best["ap"],
            "random_search_val_ap_best": max(random_aps),
            "random_search_val_ap_median": statistics.median(random_aps),
            "search_val_ap_median_per_generation": [statistics.median(by_generation[g])
                                                    for g in sorted(by_generation)],
            "final_minival_ap_best": minival["best"].get("AP"),
            "final_minival_ap_released": minival["released"].get("AP"),
            "released_arch": RELEASED,
            "released_flops": count_flops("300M", RELEASED),
            "num_search_evaluations": search["num_evaluated"],
            "num_random_evaluations": len(random_aps),
            "transport": "rabbitmq" if self.args.broker else "local",
            "device": self.device,
            "seconds_per_stage": self.times,
        }
        shutil.copy(os.path.join(self.out, "search", "search_progress.png"),
                    os.path.join(self.out, "search_progress.png"))
        self.draw_detections()
        _write_json(os.path.join(self.out, "summary.json"), summary)
        print_table(summary, self.out)
        return summary

    def draw_detections(self):
        """Detections of the retrained best architecture on a few minival images, side by side."""
        from PIL import Image

        sys.path.insert(0, os.path.join(REPO, "demo"))
        from predictor import build_predictor

        from maskrcnn_benchmark.config import load_config

        os.environ["DETNAS_DATASETS"] = self.datasets
        cfg = load_config(os.path.join(REPO, RETRAIN_CONFIG), [
            "MODEL.BACKBONE.ARCH", self.best_arch(), "MODEL.DEVICE", self.device,
            "OUTPUT_DIR", os.path.join(self.out, "retrain_best")])
        predictor = build_predictor(cfg)
        with open(os.path.join(self.datasets, "shapes", "annotations", "minival.json")) as f:
            files = [im["file_name"] for im in json.load(f)["images"][: self.s["drawn_images"]]]
        tiles = []
        for name in files:
            image = Image.open(os.path.join(self.datasets, "shapes", "images", name)).convert("RGB")
            tiles.append(predictor.draw(image, predictor.predict(image), threshold=0.5))
        scale = 3  # the images are small; enlarge so boxes and labels can be read
        width = sum(t.width for t in tiles) * scale
        height = max(t.height for t in tiles) * scale
        sheet = Image.new("RGB", (width, height), (255, 255, 255))
        x = 0
        for t in tiles:
            sheet.paste(t.resize((t.width * scale, t.height * scale), Image.NEAREST), (x, 0))
            x += t.width * scale
        path = os.path.join(self.out, "detections_minival.png")
        sheet.save(path)
        print(f"detections of the retrained best architecture: {path}")

    # ------------------------------------------------------------------ all
    def main(self):
        start = time.monotonic()
        s = self.s
        exists = os.path.exists
        self.stage(1, "data", "generate the shapes and classification datasets",
                   lambda: exists(os.path.join(self.datasets, "COMPLETE")), self.make_data)
        self.stage(2, "pretrain_supernet",
                   f"pre-train the 300M supernet on the classification set "
                   f"({s['cls_supernet_iters']} iterations)",
                   lambda: exists(self.supernet_export), self.pretrain_supernet)
        self.stage(3, "finetune_supernet",
                   f"fine-tune the supernet in Faster R-CNN + FPN on search-train "
                   f"({s['supernet_iters']} iterations, one path each)",
                   lambda: exists(os.path.join(self.supernet_dir, "model_final.pth")),
                   self.finetune_supernet)
        budget = s["population"] * s["generations"]
        where = f"RabbitMQ at {_mask(self.args.broker)}" if self.args.broker else "local processes"
        self.stage(4, "search", f"evolutionary search, {s['generations']} generations x "
                   f"{s['population']} ({budget} evaluations on {where})",
                   lambda: self.search_done("search"),
                   lambda: self.run_search("4_search", self.experiment("evolution"),
                                           os.path.join(self.out, "search"), False))
        self.stage(5, "random_search", f"random baseline: {budget} random architectures under "
                   f"{MAX_FLOPS} FLOPs, evaluated the same way",
                   lambda: self.search_done("random_search"),
                   lambda: self.run_search("5_random_search", self.experiment("random"),
                                           os.path.join(self.out, "random_search"), True))
        self.stage(6, "retrain", "retrain the best found and the released architecture "
                   f"({s['cls_fixed_iters']} classification + {s['retrain_iters']} detection "
                   "iterations each), AP on minival",
                   lambda: all(exists(self.minival_metrics_path(n)) for n in ("best", "released")),
                   self.retrain_both)
        print("\n== [7/7] report ==", flush=True)
        summary = self.report()
        print(f"demo finished in {_fmt_seconds(time.monotonic() - start)}")
        return summary

    def experiment(self, kind):
        # Queue names on a shared broker: unique per output folder, stable across runs (resume).
        tag = hashlib.sha1(self.out.encode()).hexdigest()[:8] if self.args.broker else "local"
        return f"demo-{kind}-{tag}"


def print_table(summary, out):
    rows = [
        ("best architecture found", f"{summary['best_arch']} ({summary['best_flops'] / 1e6:.1f} MFLOPs)"),
        ("search-val AP of the best found", _ap(summary["best_search_val_ap"])),
        ("search-val AP of random archs",
         f"best {_ap(summary['random_search_val_ap_best'])}, median "
         f"{_ap(summary['random_search_val_ap_median'])} "
         f"({summary['num_random_evaluations']} architectures)"),
        ("search-val AP median, per generation",
         " -> ".join(_ap(a) for a in summary["search_val_ap_median_per_generation"])),
        ("minival AP, best found, retrained", _ap(summary["final_minival_ap_best"])),
        (f"minival AP, released DetNAS-300M", _ap(summary["final_minival_ap_released"])),
    ]
    rows += [(f"seconds: {k}", f"{v:.0f}") for k, v in summary["seconds_per_stage"].items()]
    width = max(len(k) for k, _ in rows)
    print("\nDetNAS demo results")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print(f"\noutputs in {out}: summary.json, search_progress.png, detections_minival.png, "
          "search/, random_search/, retrain_*/, logs/")


def _ap(x):
    return "-" if x is None else f"{x:.3f}"


def _fmt_seconds(s):
    return f"{int(s // 60)}m{int(s % 60):02d}s"


def _mask(url):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _read_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def _write_json(path, obj):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", default=os.path.join(REPO, "output", "demo"))
    p.add_argument("--device", default=os.environ.get("DEVICE", "cpu"), help="cpu or cuda")
    p.add_argument("--broker", default="",
                   help="AMQP URL: run the search through RabbitMQ with two evaluation servers")
    p.add_argument("--scale", choices=sorted(SCALES), default="default",
                   help="'tiny' is the smoke test's size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="keep the tools' output in logs/ only")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.device not in ("cpu", "cuda"):
        raise SystemExit(f"--device must be cpu or cuda, got {args.device!r}")
    try:
        Demo(args).main()
    except DemoError as e:
        print(f"\ndemo stopped: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
