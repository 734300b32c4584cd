"""Settings of the search master: defaults here, a yaml file with --config, KEY VALUE overrides last.

    python -m distributed_arch_search.search --config my_search.yaml EVOLUTION.MAX_FLOPS 330M

FLOPs limits are strings with an optional unit suffix K, M, G ("300M", "1.3G", "2.5e8").
"""

import os
import re

from yacs.config import CfgNode as CN

from maskrcnn_benchmark.nas.evolution import EvolutionConfig

_EVOLUTION = EvolutionConfig()  # the one home of the evolution's defaults

_C = CN()
# Names the queues (detnas.<EXPERIMENT>.tasks/results/dead) and the default output folder. Required
# for the RabbitMQ backend; the local backend defaults to "local".
_C.EXPERIMENT = ""
# Default: output/search/<EXPERIMENT>. Holds the checkpoint, results, plot and the servers' folders.
_C.OUTPUT_DIR = ""
# Continue from OUTPUT_DIR/search_checkpoint.json when it exists.
_C.RESUME = True

_C.SPACE = CN()
# DetNAS size preset ("300M", "1.3G", "3.8G": 20, 40, 40 blocks of 4 choices, from maskrcnn_benchmark.nas).
_C.SPACE.SIZE = "300M"
# 0 = from the SIZE preset. With FLOPS_MODEL "detnas" they must match the preset; with "linear" any
# positive values make a toy space for tests.
_C.SPACE.NUM_BLOCKS = 0
_C.SPACE.NUM_CHOICES = 0
# "detnas": maskrcnn_benchmark.nas.count_flops(SIZE, arch, input_size=FLOPS_INPUT_SIZE).
# "linear": LINEAR_FLOPS_BASE + sum of LINEAR_FLOPS_PER_CHOICE[choice] per block; a toy cost model
# for the synthetic evaluator in tests and benchmarks, not the FLOPs of any network.
_C.SPACE.FLOPS_MODEL = "detnas"
_C.SPACE.FLOPS_INPUT_SIZE = 224
_C.SPACE.LINEAR_FLOPS_BASE = "0"
_C.SPACE.LINEAR_FLOPS_PER_CHOICE = ("12M", "14M", "16M", "18M")

_C.EVOLUTION = CN()
_C.EVOLUTION.POPULATION_SIZE = _EVOLUTION.population_size
_C.EVOLUTION.NUM_GENERATIONS = _EVOLUTION.num_generations
_C.EVOLUTION.NUM_PARENTS = _EVOLUTION.num_parents
_C.EVOLUTION.NUM_MUTANTS = _EVOLUTION.num_mutants
_C.EVOLUTION.MUTATION_PROB = _EVOLUTION.mutation_prob
_C.EVOLUTION.NUM_CROSSOVERS = _EVOLUTION.num_crossovers
_C.EVOLUTION.MAX_FLOPS = f"{_EVOLUTION.max_flops / 1e6:g}M"
_C.EVOLUTION.MIN_FLOPS = ""  # "" = no lower limit
# Failed attempts (error results, timeouts, tasks lost with a server) before a candidate is failed.
_C.EVOLUTION.MAX_FAILURES = _EVOLUTION.max_failures
_C.EVOLUTION.SEED = _EVOLUTION.seed
_C.EVOLUTION.MAX_DRAWS_PER_CANDIDATE = _EVOLUTION.max_draws_per_candidate
# Architectures (quoted digit strings) that open generation 0 before the random ones.
_C.EVOLUTION.INITIAL_POPULATION = list(_EVOLUTION.initial_population)

_C.TRANSPORT = CN()
# "auto": RabbitMQ when a URL is given (AMQP_URL or $DETNAS_AMQP_URL), else local processes.
# "rabbitmq": the broker; without a URL, amqp://guest:guest@127.0.0.1:5672/%2F. "local": no broker.
_C.TRANSPORT.BACKEND = "auto"
_C.TRANSPORT.AMQP_URL = ""
_C.TRANSPORT.HEARTBEAT_S = 60
_C.TRANSPORT.RECONNECT_INITIAL_S = 0.5
_C.TRANSPORT.RECONNECT_MAX_S = 30.0
# Give up after the broker has been unreachable this long (0 = keep trying).
_C.TRANSPORT.RECONNECT_GIVE_UP_S = 0.0
# TLS (amqps://) with a private CA or client certificates; empty = system CAs, no client certificate.
_C.TRANSPORT.TLS_CA_FILE = ""
_C.TRANSPORT.TLS_CERT_FILE = ""
_C.TRANSPORT.TLS_KEY_FILE = ""

_C.LOCAL = CN()
_C.LOCAL.NUM_WORKERS = 1
# GPU per worker (worker i gets GPUS[i % len]); empty = CPU.
_C.LOCAL.GPUS = []
# The evaluator's command line, exactly as for test_server.py; it must name the evaluator, e.g.
# ["--evaluator", "detector", "--config-file", "...", "--weights", "..."]. There is no default: the
# stand-in "synthetic" (made-up AP, for tests) is used only when named.
_C.LOCAL.SERVER_ARGS = []

_C.MASTER = CN()
# A task evaluating (since its "started" message) longer than this is re-issued; the overrun counts
# as a failed attempt. A task never started is re-issued after this long only if no task waits in
# the queue (so it cannot still be queued).
_C.MASTER.TASK_TIMEOUT_S = 7200.0
# A server that sent no "progress" about its task for this long is lost (killed, cut off): one failed
# attempt, and the task is issued again. Keep it well above the servers' --progress-s (10 s) and their
# reconnect back-off cap (--reconnect-max-s, 30 s), so a broker restart does not look like a loss.
_C.MASTER.SERVER_LOST_S = 120.0
_C.MASTER.POLL_INTERVAL_S = 0.5
_C.MASTER.TOP_K = 10
# Redraw search_progress.png after every generation (always at the end).
_C.MASTER.PLOT_EACH_GENERATION = True
# tqdm bar: "auto" (when stderr is a terminal), "on", "off". A log line per generation is always written.
_C.MASTER.PROGRESS_BAR = "auto"


def get_default_config():
    return _C.clone()


class SearchConfigError(ValueError):
    pass


def load_search_config(config_file="", opts=()):
    """Defaults merged with `config_file` then the flat KEY VALUE list `opts`; frozen; checked."""
    cfg = get_default_config()
    try:
        if config_file:
            if not os.path.isfile(config_file):
                raise SearchConfigError(f"search config file not found: {config_file}")
            cfg.merge_from_file(config_file)
        opts = list(opts or ())
        if len(opts) % 2:
            raise SearchConfigError(f"overrides must be KEY VALUE pairs, got an odd list: {opts}")
        cfg.merge_from_list(opts)
    except (KeyError, ValueError, TypeError, AssertionError) as e:
        if isinstance(e, SearchConfigError):
            raise
        where = f"config file {config_file}" if config_file else "overrides"
        raise SearchConfigError(f"in {where} / overrides {list(opts)}: {e.args[0] if e.args else e}") from None
    if cfg.TRANSPORT.BACKEND not in ("auto", "local", "rabbitmq"):
        raise SearchConfigError(f"TRANSPORT.BACKEND must be auto, local or rabbitmq, got {cfg.TRANSPORT.BACKEND!r}")
    if cfg.SPACE.FLOPS_MODEL not in ("detnas", "linear"):
        raise SearchConfigError(f"SPACE.FLOPS_MODEL must be detnas or linear, got {cfg.SPACE.FLOPS_MODEL!r}")
    if cfg.SPACE.NUM_BLOCKS < 0 or not 0 <= cfg.SPACE.NUM_CHOICES <= 10:
        raise SearchConfigError(
            f"SPACE.NUM_BLOCKS must be >= 0 and SPACE.NUM_CHOICES in 0..10 (0 = from the "
            f"preset), got {cfg.SPACE.NUM_BLOCKS} and {cfg.SPACE.NUM_CHOICES}"
        )
    if cfg.MASTER.PROGRESS_BAR not in ("auto", "on", "off"):
        raise SearchConfigError(f"MASTER.PROGRESS_BAR must be auto, on or off, got {cfg.MASTER.PROGRESS_BAR!r}")
    for key in ("EVOLUTION.MAX_FLOPS", "EVOLUTION.MIN_FLOPS", "SPACE.LINEAR_FLOPS_BASE"):
        section, name = key.split(".")
        value = cfg[section][name]
        if value != "" or name == "MAX_FLOPS":
            parse_flops(value, key)
    for i, arch in enumerate(cfg.EVOLUTION.INITIAL_POPULATION):
        if not (isinstance(arch, str) and arch.isascii() and arch.isdigit()):
            raise SearchConfigError(
                f"EVOLUTION.INITIAL_POPULATION[{i}] must be a quoted digit string such as "
                f"'0123...' (unquoted, yaml reads a number and drops leading zeros), "
                f"got {arch!r}"
            )
    for i, value in enumerate(cfg.SPACE.LINEAR_FLOPS_PER_CHOICE):
        parse_flops(value, f"SPACE.LINEAR_FLOPS_PER_CHOICE[{i}]")
    cfg.freeze()
    return cfg


_UNITS = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9}


def parse_flops(value, key="FLOPs"):
    """ "300M" -> 3e8, "1.3G" -> 1.3e9, "250000000" -> 2.5e8, numbers pass through."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([KMGkmg]?)\s*", str(value))
    if not m:
        raise SearchConfigError(f"{key}: {value!r} is not a FLOPs count such as 300M, 1.3G or 2.5e8")
    return float(m.group(1)) * _UNITS[m.group(2).upper()]
