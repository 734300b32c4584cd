"""Studies built from whole searches: each step is one search master run in its own folder, through
the same transports, retries, checkpoints and score cache as any search (tools/rank_correlation.py,
tools/compare_search.py).

A step whose folder holds a finished ``search_results.json`` of the same settings is not run again; a
step cut off is resumed from its checkpoint; a finished step of other settings is an error (a study
folder is never silently mixed), except a stand-alone step trained with fewer seeds: it is moved aside
and run again, training only the missing seeds when the score cache is shared. With a shared
``--score-cache`` no architecture is evaluated twice by equal evaluators across steps: the random
arm's generation 0 is the evolution's, a repeated study costs lookups only.
"""

import json
import logging
import os
import shlex
import sys

from maskrcnn_benchmark.nas.arch import arch_to_str, parse_arch
from maskrcnn_benchmark.nas.search_space import get_search_space

from .arch_search_config import SearchConfigError, load_search_config
from .master import SearchMaster
from .master_settings import evolution_config
from .report import RESULTS_NAME
from .transport.amqp import BrokerConfigError, BrokerUnavailable
from .transport.local import LocalWorkerError

logger = logging.getLogger(__name__)


class StudyError(RuntimeError):
    pass


# What a study's command line reports as an error message instead of a traceback.
FAILURES = (StudyError, SearchConfigError, BrokerConfigError, BrokerUnavailable, LocalWorkerError)


class Backend:
    """Where a study's candidates are evaluated: local worker processes started per step with the
    step's server arguments, or RabbitMQ servers the user runs (one experiment name per evaluator:
    servers serve the queues of one experiment)."""

    def __init__(self, kind="local", workers=1, gpus=(), amqp_url="", score_cache=""):
        if kind not in ("local", "rabbitmq"):
            raise ValueError(f"backend must be local or rabbitmq, got {kind!r}")
        self.kind, self.workers, self.gpus = kind, int(workers), list(gpus)
        self.amqp_url, self.score_cache = amqp_url, score_cache

    def opts(self, server_args, experiment):
        if self.kind == "rabbitmq":
            if not experiment:
                raise StudyError("the rabbitmq backend needs an experiment name for the servers' queues")
            return ["TRANSPORT.BACKEND", "rabbitmq", "TRANSPORT.AMQP_URL", self.amqp_url, "EXPERIMENT", experiment]
        args = list(server_args)
        if self.score_cache and "--score-cache" not in args:
            args += ["--score-cache", self.score_cache]
        return [
            "TRANSPORT.BACKEND",
            "local",
            "LOCAL.NUM_WORKERS",
            str(self.workers),
            "LOCAL.GPUS",
            repr(self.gpus),
            "LOCAL.SERVER_ARGS",
            repr(args),
            "EXPERIMENT",
            experiment or "local",
        ]


def add_backend_arguments(parser, experiment, task_timeout=False):
    """The options every study shares: where candidates are evaluated, the score cache, the progress
    bar and the log level; `experiment` is the default queue-name prefix."""
    parser.add_argument("--workers", type=int, default=1, help="local backend: evaluation processes")
    parser.add_argument("--gpus", type=int, nargs="*", default=[], help="local backend: GPU per worker")
    parser.add_argument("--amqp-url", default="", help="evaluate through RabbitMQ servers instead")
    parser.add_argument("--experiment", default=experiment, help="experiment name prefix (queue names)")
    parser.add_argument("--score-cache", default="", help="score cache folder (default OUTPUT_DIR/scores)")
    if task_timeout:
        parser.add_argument(
            "--task-timeout-s",
            type=float,
            default=7 * 86400,
            help="stand-alone trainings running longer count as failed (default a week)",
        )
    parser.add_argument("--progress-bar", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--log-level", default="INFO")


def backend_from_args(args, out):
    """The Backend of the options of `add_backend_arguments`; the score cache defaults to OUT/scores."""
    return Backend(
        "rabbitmq" if args.amqp_url else "local",
        args.workers,
        args.gpus,
        args.amqp_url,
        args.score_cache or os.path.join(out, "scores"),
    )


def run_step(folder, search_opts, server_args, backend, experiment="", progress_bar="auto"):
    """Run, resume or reuse the search of `search_opts` in `folder`; return its search_results.json."""
    opts = [
        *search_opts,
        *backend.opts(server_args, experiment),
        "OUTPUT_DIR",
        folder,
        "MASTER.PROGRESS_BAR",
        progress_bar,
    ]
    try:
        cfg = load_search_config("", opts)
    except SearchConfigError as e:
        raise StudyError(f"{folder}: {e}") from None
    done = read_results(folder)
    if done is not None and done.get("finished"):
        wanted = evolution_config(cfg).to_dict()
        if done["evolution"] != wanted:
            differ = sorted(k for k in wanted if done["evolution"].get(k) != wanted[k])
            raise StudyError(
                f"{folder} holds a finished search of other settings ({', '.join(differ)}); "
                f"use another --output-dir or delete that folder"
            )
        logger.info("%s: finished before, reused (%d evaluated)", folder, done["num_evaluated"])
        return done
    logger.info("%s: running the search", folder)
    summary = SearchMaster.from_config(cfg).run()
    if not summary["finished"]:
        raise StudyError(
            f"{folder}: the search stopped before its last generation "
            f"({summary['num_evaluated']} evaluated, {summary['num_failed']} failed)"
        )
    return summary


def run_standalone_step(folder, search_opts, standalone_args, seeds, backend, experiment, progress_bar="auto"):
    """run_step for stand-alone trainings with `seeds`. A finished step that lacks some of them (the
    study ran before with other --seeds) is moved aside to `<folder>.seeds-<its seeds>` and run again:
    with the same --score-cache only the missing (architecture, seed) pairs are trained."""
    done = read_results(folder)
    if done is not None and done.get("finished"):
        trained = _trained_seeds(done)
        if not set(seeds) <= trained:
            aside = _unused_name(f"{folder}.seeds-{'-'.join(map(str, sorted(trained))) or 'none'}")
            os.replace(folder, aside)
            logger.warning("%s was trained with seeds %s, not %s: moved to %s", folder, sorted(trained), seeds, aside)
    return run_step(
        folder, search_opts, [*standalone_args, "--seeds", *map(str, seeds)], backend, experiment, progress_bar
    )


def _trained_seeds(summary):
    """The seeds every successful stand-alone result of `summary` has an AP for."""
    per_result = [
        {int(k[len("ap_seed") :]) for k in r["metrics"] if k.startswith("ap_seed") and k[len("ap_seed") :].isdigit()}
        for r in ok_results(summary)
    ]
    return set.intersection(*per_result) if per_result else set()


def _unused_name(path):
    candidate, n = path, 1
    while os.path.exists(candidate):
        n += 1
        candidate = f"{path}.{n}"
    return candidate


def read_results(folder):
    path = os.path.join(folder, RESULTS_NAME)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise StudyError(f"{path} is not valid JSON ({e}); delete it to run that step again") from None


def ok_results(summary):
    """The successful candidates of a search, in evaluation order (generation, finish time)."""
    return [r for r in summary["results"] if r["status"] == "ok"]


def results_of(summary, archs, what, folder):
    """The ok results of `archs` in `summary`, in the order of `archs`; a StudyError names those
    without one (`what`: "stand-alone result", ...; `folder`: the step's folder, for the message)."""
    by_arch = {r["arch"]: r for r in ok_results(summary)}
    missing = [a for a in archs if a not in by_arch]
    if missing:
        raise StudyError(f"{', '.join(missing)}: no {what} (failed: see {folder}/search_results.json)")
    return [by_arch[a] for a in archs]


def standalone_rows(summary, archs, seeds):
    """One row per architecture of a stand-alone step: its FLOPs, mean AP and AP per seed."""
    rows = []
    for record in results_of(summary, archs, "stand-alone result", "standalone"):
        aps = per_seed_aps(record, seeds)
        rows.append(
            {
                "arch": record["arch"],
                "flops": record["flops"],
                "standalone_ap": sum(aps) / len(aps),
                "standalone_ap_per_seed": dict(zip(map(str, seeds), aps)),
            }
        )
    return rows


def per_seed_aps(record, seeds):
    """The stand-alone APs of one result, in the order of `seeds`."""
    metrics = record["metrics"]
    missing = [s for s in seeds if f"ap_seed{s}" not in metrics]
    if missing:
        raise StudyError(
            f"stand-alone result of {record['arch']} has no AP for seeds {missing} (metrics: {sorted(metrics)}); "
            f"the standalone servers must run with --seeds {' '.join(map(str, seeds))}"
        )
    return [metrics[f"ap_seed{s}"] for s in seeds]


def standalone_args(text, option="--standalone-args", seeds_hint="the tool's --seeds K"):
    """The standalone evaluator's server arguments given as one string in `option`; the study adds
    --seeds itself, so one given there is refused."""
    args = shlex.split(text)
    if "--seeds" in args:
        raise StudyError(f"{option} must not contain --seeds: use {seeds_hint}")
    return args


def named_archs(names, size):
    """Digit strings of `names` (digit strings, released names, or ``uniform`` for one architecture
    per choice: the same choice in every block), in order, without repeats."""
    space = get_search_space(size)
    keys = []
    for name in names:
        if name == "uniform":
            keys += [str(c) * space.num_blocks for c in range(space.num_choices)]
        else:
            try:
                keys.append(arch_to_str(parse_arch(name, space)))
            except ValueError as e:
                raise StudyError(f"--archs {name!r}: {e}") from None
    return list(dict.fromkeys(keys))


def space_opts(size="300M", max_flops="300M", min_flops="", seed=0):
    return [
        "SPACE.SIZE",
        size,
        "EVOLUTION.MAX_FLOPS",
        str(max_flops),
        "EVOLUTION.MIN_FLOPS",
        str(min_flops),
        "EVOLUTION.SEED",
        str(seed),
    ]


def sample_opts(num, parents=1):
    """One generation of `num` random architectures (no mutation, no crossover)."""
    return [
        "EVOLUTION.POPULATION_SIZE",
        str(num),
        "EVOLUTION.NUM_GENERATIONS",
        "1",
        "EVOLUTION.NUM_PARENTS",
        str(parents),
        "EVOLUTION.NUM_MUTANTS",
        "0",
        "EVOLUTION.NUM_CROSSOVERS",
        "0",
    ]


def fixed_list_opts(archs):
    """One generation of exactly `archs`."""
    return [*sample_opts(len(archs)), "EVOLUTION.INITIAL_POPULATION", repr([str(a) for a in archs])]


def run_cli(args, run, log_name):
    """A study's command line: logging to OUTPUT_DIR/`log_name` and stderr, `run(args)`, and an error
    message (exit 2) instead of a traceback for what a user can fix."""
    from .outputs import setup_logging

    os.makedirs(args.output_dir, exist_ok=True)
    setup_logging(args.log_level, os.path.join(args.output_dir, log_name))
    try:
        run(args)
    except FAILURES as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
