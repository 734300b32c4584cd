#!/usr/bin/env python
"""The whole DetNAS pipeline on the project's own generated data, in one command.

    bash scripts/run_detnas_demo.sh [--output-dir output/demo] [--device cpu|cuda] [--broker URL]

Stages (each skipped when its output exists, so running the command again resumes):
  1 data       shapes detection set (train, minival, search-train/search-val) + a classification set
  2 pretrain   the 300M supernet on the classification set ("ImageNet")
  3 finetune   the supernet inside Faster R-CNN + FPN on search-train, one path per iteration
  4 search     evolutionary search against random search, the same budget, several seeds
               (tools/compare_search.py); each candidate: BN recalibration + AP on search-val, each
               score measured once (score cache shared by all runs)
  5 retrain    the best found and the best random architecture, K seeds each: classification
               pre-training, detection training on train, AP on minival (the standalone evaluator
               through the search master, both trained in parallel)
  6 report     summary.json, search_vs_random.png, search_progress.png, detections_minival.png,
               supernet_curves.png (the supernet fine-tuning's loss and lr), a table

Every stage runs the project's own tools as a user would (Supernet-ImageNet/train.py,
tools/train_net.py, distributed_arch_search), with their logs (ETA lines, progress bars) shown and
kept under <output-dir>/logs/.
"""

import argparse
import hashlib
import json
import os
import shlex
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import demo_report  # noqa: E402  (demo_*: tools/, beside this file)
from demo_processes import DemoError, Processes  # noqa: E402
from demo_recipe import MAX_FLOPS, RELEASED, RETRAIN_CONFIG, SCALES, SEARCH_CONFIG, make_demo_data  # noqa: E402

from maskrcnn_benchmark.utils.atomic_file import atomic_write_json  # noqa: E402


class Demo:
    RELEASED = RELEASED
    RETRAIN_CONFIG = RETRAIN_CONFIG

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
        self.processes = Processes(REPO, self.logs, self.env, quiet=args.quiet)

    # ------------------------------------------------------------------ plumbing
    def env(self, threads=None):
        env = dict(
            os.environ,
            DETNAS_DATASETS=self.datasets,
            PYTHONUNBUFFERED="1",
            PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
        )
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        return env

    def run(self, name, cmd, threads=None):
        self.processes.run(name, cmd, threads)

    def stage(self, number, name, title, done, work):
        header = f"[{number}/6] {title}"
        if done():
            print(f"\n== {header}: already done, skipped ==", flush=True)
            return
        print(f"\n== {header} ==", flush=True)
        start = time.monotonic()
        work()
        self.times[name] = round(time.monotonic() - start, 1)
        atomic_write_json(self.times_path, self.times, indent=2)
        print(f"== {header}: done in {_fmt_seconds(self.times[name])} ==", flush=True)

    def py(self, *args):
        return [sys.executable, *args]

    # ------------------------------------------------------------------ stages
    def make_data(self):
        make_demo_data(self.datasets, self.s, self.args.seed)

    # Command lines as flag-value pairs, one pair or a few per line: kept so by hand, the formatter
    # would put every word on its own line.
    # fmt: off
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

    def standalone_args(self):
        """The standalone evaluator: classification pre-training then detection training per seed,
        the same recipe for every architecture retrained."""
        s = self.s
        pretrain = ["--size", "300M", "--data", os.path.join(self.datasets, "tiny_cls"),
                    "--input-size", str(s["cls_image"]), "--batch-size", str(s["cls_batch"]),
                    "--total-iters", str(s["cls_fixed_iters"]), "--lr", str(s["cls_lr"]), "--workers", "0",
                    "--eval-interval", "0", "--log-interval", str(max(s["cls_fixed_iters"] // 4, 1))]
        schedule = self.detection_schedule(s["retrain_iters"])[:-4]  # the evaluator sets device and seed
        return ["--evaluator", "standalone", "--config-file", RETRAIN_CONFIG, "--keep-outputs",
                "--seeds", *map(str, range(s["retrain_seeds"])), "--pretrain-args", shlex.join(pretrain),
                "--opts", *schedule]

    def with_servers(self, name, experiment, server_args, work):
        """Run `work()` with two evaluation servers on the broker (stopped afterwards), or directly."""
        if not self.args.broker:
            return work()
        procs = self.start_servers(experiment, server_args)
        try:
            return work()
        finally:
            self.processes.stop_servers(procs)
            self.run(f"{name}_cleanup", self.py(
                "-m", "distributed_arch_search.search", "--experiment", experiment,
                "--amqp-url", self.args.broker, "--delete-queues"))

    def compare_search(self):
        """Evolution and random search, the same budget and evaluator, several seeds."""
        s = self.s
        cmd = self.py("tools/compare_search.py", "--output-dir", self.search_dir,
                      "--seeds", str(s["seeds"]), "--first-seed", str(self.args.seed),
                      "--population", str(s["population"]), "--generations", str(s["generations"]),
                      "--parents", str(s["parents"]), "--mutants", str(s["mutants"]),
                      "--crossovers", str(s["crossovers"]), "--top-k", str(s["top_k"]),
                      "--max-flops", MAX_FLOPS, "--score-cache", self.score_cache)
        experiment = self.experiment("search")
        if self.args.broker:
            cmd += ["--amqp-url", self.args.broker, "--experiment", experiment]
        else:
            cmd += ["--workers", str(s["workers"]), "--server-args", shlex.join(self.evaluator_args())]
            if self.device.startswith("cuda"):
                cmd += ["--gpus", *["0"] * s["workers"]]
        # Each evaluator process computes on one thread; two of them use both cores.
        self.with_servers("4_search", experiment, self.evaluator_args(),
                          lambda: self.run("4_search", cmd, threads=1))

    def retrain_archs(self):
        """Best found, best random (and the released one if asked), each architecture once."""
        c = self.comparison()
        archs = [c["best_found"]["arch"], c["best_random"]["arch"]]
        if self.args.with_released:
            archs.append(RELEASED)
        return list(dict.fromkeys(archs))

    def retrain(self):
        """A fixed list through the search master: the servers train the architectures in parallel."""
        s = self.s
        archs = self.retrain_archs()
        experiment = self.experiment("retrain")
        cmd = self.py("-m", "distributed_arch_search.search", "--experiment", experiment,
                      "--output-dir", self.retrain_dir, "EVOLUTION.MAX_FLOPS", "10G",
                      "EVOLUTION.POPULATION_SIZE", str(len(archs)), "EVOLUTION.NUM_GENERATIONS", "1",
                      "EVOLUTION.NUM_PARENTS", "1", "EVOLUTION.NUM_MUTANTS", "0",
                      "EVOLUTION.NUM_CROSSOVERS", "0", "EVOLUTION.INITIAL_POPULATION", repr(archs),
                      "MASTER.TASK_TIMEOUT_S", "86400.0")
        if self.args.broker:
            cmd[3:3] = ["--backend", "rabbitmq", "--amqp-url", self.args.broker]
        else:
            gpus = repr([0] * s["workers"]) if self.device.startswith("cuda") else "[]"
            cmd[3:3] = ["--backend", "local"]
            cmd += ["LOCAL.NUM_WORKERS", str(s["workers"]), "LOCAL.GPUS", gpus,
                    "LOCAL.SERVER_ARGS", repr([*self.standalone_args(), "--score-cache", self.score_cache])]
        self.with_servers("5_retrain", experiment, self.standalone_args(),
                          lambda: self.run("5_retrain", cmd, threads=1))

    def start_servers(self, experiment, server_args):
        gpu = ["--gpu", "0"] if self.device.startswith("cuda") else []
        cmd = self.py("-m", "distributed_arch_search.test_server", "--experiment", experiment,
                      "--output-dir", os.path.join(self.out, "servers"), "--amqp-url", self.args.broker,
                      "--score-cache", self.score_cache, *gpu, *server_args)
        return self.processes.start_servers(experiment, [cmd] * self.s["workers"])

    # fmt: on

    # ------------------------------------------------------------------ results
    @property
    def supernet_export(self):
        return os.path.join(self.pretrained, "supernet_300M.pth")

    @property
    def supernet_dir(self):
        return os.path.join(self.out, "supernet")

    @property
    def search_dir(self):
        return os.path.join(self.out, "search")

    @property
    def retrain_dir(self):
        return os.path.join(self.out, "retrain")

    @property
    def score_cache(self):
        return os.path.join(self.out, "scores")

    def comparison(self):
        """comparison.json of the search stage plus the best architecture of each arm over all seeds."""
        c = _read_json(os.path.join(self.search_dir, "comparison.json"), None)
        if c is None:
            raise DemoError(f"{self.search_dir}/comparison.json is missing: the search stage did not finish")
        for arm, name in (("evolution", "best_found"), ("random", "best_random")):
            runs = [
                _read_json(os.path.join(self.search_dir, f"{arm}_seed{seed}", "search_results.json"), {})
                for seed in c["seeds"]
            ]
            best = max((r["best"] for r in runs), key=lambda b: (b["ap"], b["arch"]))
            c[name] = {"arch": best["arch"], "search_val_ap": best["ap"], "flops": best["flops"]}
        return c

    def retrained(self):
        """arch -> {"ap_per_seed": [...], "ap": mean} from the retrain stage's search_results.json."""
        results = _read_json(os.path.join(self.retrain_dir, "search_results.json"), None)
        if not results or not results.get("finished"):
            raise DemoError(f"{self.retrain_dir}/search_results.json is missing or unfinished")
        out = {}
        for r in results["results"]:
            if r["status"] != "ok":
                raise DemoError(f"retraining {r['arch']} failed: {r['errors'][-1:]}")
            seeds = range(self.s["retrain_seeds"])
            out[r["arch"]] = {"ap_per_seed": [r["metrics"][f"ap_seed{k}"] for k in seeds], "ap": r["ap"]}
        return out

    def stage_done(self, folder, name):
        return bool(_read_json(os.path.join(folder, name), {}))

    # ------------------------------------------------------------------ all
    def main(self):
        start = time.monotonic()
        s = self.s
        exists = os.path.exists
        self.stage(
            1,
            "data",
            "generate the shapes and classification datasets",
            lambda: exists(os.path.join(self.datasets, "COMPLETE")),
            self.make_data,
        )
        self.stage(
            2,
            "pretrain_supernet",
            f"pre-train the 300M supernet on the classification set ({s['cls_supernet_iters']} iterations)",
            lambda: exists(self.supernet_export),
            self.pretrain_supernet,
        )
        self.stage(
            3,
            "finetune_supernet",
            f"fine-tune the supernet in Faster R-CNN + FPN on search-train "
            f"({s['supernet_iters']} iterations, one path each)",
            lambda: exists(os.path.join(self.supernet_dir, "model_final.pth")),
            self.finetune_supernet,
        )
        budget = s["population"] * s["generations"]
        where = f"RabbitMQ at {_mask(self.args.broker)}" if self.args.broker else "local processes"
        self.stage(
            4,
            "search",
            f"evolutionary and random search, {s['seeds']} seeds each, "
            f"{budget} evaluations per run ({s['generations']} generations x {s['population']}) "
            f"on {where}",
            lambda: self.stage_done(self.search_dir, "comparison.json"),
            self.compare_search,
        )
        self.stage(
            5,
            "retrain",
            f"retrain the best found and the best random architecture, "
            f"{s['retrain_seeds']} seeds each ({s['cls_fixed_iters']} classification + "
            f"{s['retrain_iters']} detection iterations), AP on minival",
            lambda: (
                self.stage_done(self.retrain_dir, "search_results.json")
                and bool(_read_json(os.path.join(self.retrain_dir, "search_results.json"), {}).get("finished"))
            ),
            self.retrain,
        )
        print("\n== [6/6] report ==", flush=True)
        summary = demo_report.write_report(self)
        print(f"demo finished in {_fmt_seconds(time.monotonic() - start)}")
        return summary

    def experiment(self, kind):
        # Queue names on a shared broker: unique per output folder, stable across runs (resume).
        tag = hashlib.sha1(self.out.encode()).hexdigest()[:8] if self.args.broker else "local"
        return f"demo-{kind}-{tag}"


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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", default=os.path.join(REPO, "output", "demo"))
    p.add_argument("--device", default=os.environ.get("DEVICE", "cpu"), help="cpu or cuda")
    p.add_argument("--broker", default="", help="AMQP URL: run the search through RabbitMQ with two evaluation servers")
    p.add_argument("--scale", choices=sorted(SCALES), default="default", help="'tiny' is the smoke test's size")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and of the first search run")
    p.add_argument(
        "--with-released",
        action="store_true",
        help="also retrain the released DetNAS-300M architecture (a third row; longer)",
    )
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
