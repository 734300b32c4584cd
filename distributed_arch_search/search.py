"""Search master: runs the evolutionary search, hands candidates to evaluators, records every result.

    python -m distributed_arch_search.search --config my_search.yaml --experiment coco300m \\
        --amqp-url amqp://detnas:SECRET@broker:5672/detnas          # servers: test_server.py / run_server.sh
    python -m distributed_arch_search.search --experiment try1 --backend local \\
        LOCAL.NUM_WORKERS 2 LOCAL.SERVER_ARGS "['--evaluator', 'detector', '--config-file', CFG, '--weights', W]"

Every result (architecture, FLOPs, AP, server, seconds, attempts, ok/failed) is written to
OUTPUT_DIR/search_checkpoint.json, atomically, before it is acknowledged to the broker. A restarted
master resumes from it: nothing finished is evaluated again, and the tasks that were in flight are
adopted, not issued again: those still queued stay queued, those on live servers finish there, and a
holder that does not report within MASTER.SERVER_LOST_S is counted lost. Nothing is evaluated twice.
At the end: search_results.json (every evaluated architecture once, the top-k, the best as a
MODEL.BACKBONE.ARCH value), best_arch.yaml and search_progress.png.

Attempts: a candidate fails an attempt when its evaluation raises (error result), when it runs longer
than MASTER.TASK_TIMEOUT_S, or when the server holding it stops reporting for MASTER.SERVER_LOST_S
(killed, disconnected). A slow evaluation on a live server is never a failure. After
EVOLUTION.MAX_FAILURES it is recorded as failed, never retried, never becomes a parent, and every
server is told (a "done" notice) so that no copy of it is evaluated again.
"""
import argparse
import functools
import json
import logging
import os
import sys
import time
import uuid

from maskrcnn_benchmark.nas.arch import arch_to_str
from maskrcnn_benchmark.nas.evolution import (EvolutionConfig, EvolutionSearch, FailureOutcome,
                                               SearchSpaceExhausted)

from . import report
from .arch_search_config import SearchConfigError, load_search_config, parse_flops
from .outputs import default_output_dir, setup_logging
from .transport.amqp import URL_ENV, BrokerConfigError, BrokerUnavailable, resolve_url
from .transport.local import LocalWorkerError

logger = logging.getLogger("distributed_arch_search.search")

CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "search_checkpoint.json"
RESULTS_NAME = "search_results.json"
PLOT_NAME = "search_progress.png"


# ------------------------------------------------------------------------------------- set-up
def evolution_config(cfg):
    e = cfg.EVOLUTION
    try:
        return _evolution_config(e)
    except ValueError as err:
        raise SearchConfigError(f"EVOLUTION settings: {err}") from None


def _evolution_config(e):
    return EvolutionConfig(
        population_size=e.POPULATION_SIZE, num_generations=e.NUM_GENERATIONS, num_parents=e.NUM_PARENTS,
        num_mutants=e.NUM_MUTANTS, mutation_prob=e.MUTATION_PROB, num_crossovers=e.NUM_CROSSOVERS,
        max_flops=parse_flops(e.MAX_FLOPS, "EVOLUTION.MAX_FLOPS"),
        min_flops=parse_flops(e.MIN_FLOPS, "EVOLUTION.MIN_FLOPS") if e.MIN_FLOPS else None,
        max_failures=e.MAX_FAILURES, seed=e.SEED, max_draws_per_candidate=e.MAX_DRAWS_PER_CANDIDATE,
        initial_population=tuple(e.INITIAL_POPULATION))


def _linear_flops(base, per_choice, arch):
    return base + sum(per_choice[c] for c in arch)


def search_space(cfg):
    """(num_blocks, num_choices, flops_fn) of the configured space.

    "detnas": the preset of maskrcnn_benchmark.nas (one search space for the whole project) and its
    count_flops; "linear": a toy space with a per-choice cost, for tests and benchmarks.
    """
    space = cfg.SPACE
    try:
        from maskrcnn_benchmark.nas import count_flops, get_search_space
        preset = get_search_space(space.SIZE)
    except ValueError as e:
        raise SearchConfigError(f"SPACE.SIZE: {e}") from None
    num_blocks = space.NUM_BLOCKS or preset.num_blocks
    num_choices = space.NUM_CHOICES or preset.num_choices
    if space.FLOPS_MODEL == "linear":
        per_choice = tuple(parse_flops(v) for v in space.LINEAR_FLOPS_PER_CHOICE)
        if len(per_choice) != num_choices:
            raise SearchConfigError(f"SPACE.LINEAR_FLOPS_PER_CHOICE needs {num_choices} values (one per "
                                    f"choice), got {list(space.LINEAR_FLOPS_PER_CHOICE)}")
        return num_blocks, num_choices, functools.partial(
            _linear_flops, parse_flops(space.LINEAR_FLOPS_BASE), per_choice)
    if (num_blocks, num_choices) != (preset.num_blocks, preset.num_choices):
        raise SearchConfigError(
            f"SPACE.NUM_BLOCKS/NUM_CHOICES {num_blocks}/{num_choices} disagree with the {preset.name} preset "
            f"({preset.num_blocks} blocks, {preset.num_choices} choices); leave them 0")
    return num_blocks, num_choices, functools.partial(count_flops, preset.name, input_size=space.FLOPS_INPUT_SIZE)


def backend_of(cfg):
    backend = cfg.TRANSPORT.BACKEND
    if backend == "auto":
        backend = "rabbitmq" if (cfg.TRANSPORT.AMQP_URL or os.environ.get(URL_ENV)) else "local"
    return backend


def make_transport(cfg, experiment, output_dir):
    backend = backend_of(cfg)
    t = cfg.TRANSPORT
    if backend == "local":
        from .transport.local import LocalTransport

        try:
            return LocalTransport(experiment, output_dir, list(cfg.LOCAL.SERVER_ARGS),
                                  num_workers=cfg.LOCAL.NUM_WORKERS, gpus=list(cfg.LOCAL.GPUS))
        except ValueError as e:
            raise SearchConfigError(str(e)) from None
    from .transport.amqp import Backoff
    from .transport.rabbitmq_master import RabbitMQTransport

    tls = dict(tls_ca_file=t.TLS_CA_FILE, tls_cert_file=t.TLS_CERT_FILE, tls_key_file=t.TLS_KEY_FILE)
    return RabbitMQTransport(experiment, resolve_url(t.AMQP_URL), heartbeat_s=t.HEARTBEAT_S,
                             backoff=Backoff(t.RECONNECT_INITIAL_S, t.RECONNECT_MAX_S, t.RECONNECT_GIVE_UP_S),
                             tls=tls)


def experiment_name(cfg):
    if cfg.EXPERIMENT:
        return cfg.EXPERIMENT
    if backend_of(cfg) == "rabbitmq":
        raise SearchConfigError("set EXPERIMENT (--experiment NAME): it names the broker queues, and two "
                                "searches must not share them")
    return "local"


# ------------------------------------------------------------------------------------- master
class SearchMaster:
    def __init__(self, cfg, transport_factory=make_transport):
        self.cfg = cfg
        self.experiment = experiment_name(cfg)
        self.output_dir = cfg.OUTPUT_DIR or default_output_dir(self.experiment)
        self.checkpoint_path = os.path.join(self.output_dir, CHECKPOINT_NAME)
        num_blocks, num_choices, flops_fn = search_space(cfg)
        self.ea = EvolutionSearch(num_blocks, num_choices, flops_fn, evolution_config(cfg))
        self._transport_factory = transport_factory
        self.results = {}  # arch -> final record (ok or failed), in the order they became final
        self.attempts = {}  # arch -> {"starts": int, "errors": [str], "servers": [str]}
        self.generation_stats = []
        self.duplicates_ignored = 0
        self.resumed_in_flight = {}
        self.elapsed_before = 0.0
        # Identifies this search across master restarts; results of tasks without it are stale.
        self.run_id = uuid.uuid4().hex[:12]
        self._start = time.monotonic()
        self._bar = None
        self._curves = None

    # ------------------------------------------------------------------------ checkpoint
    def _state(self, transport):
        in_flight = {k: e.to_dict() for k, e in transport.in_flight().items()} if transport else {}
        return {"version": CHECKPOINT_VERSION, "experiment": self.experiment, "run_id": self.run_id,
                "config": self.cfg.dump(), "evolution": self.ea.state_dict(),
                "results": list(self.results.values()), "attempts": self.attempts,
                "in_flight": in_flight, "generation_stats": self.generation_stats,
                "duplicates_ignored": self.duplicates_ignored,
                "elapsed_s": self.elapsed_before + time.monotonic() - self._start, "saved_at": time.time()}

    def checkpoint(self, transport):
        report.write_json_atomic(self.checkpoint_path, self._state(transport))

    def load_checkpoint(self):
        with open(self.checkpoint_path, encoding="utf-8") as f:
            state = json.load(f)
        if state.get("version") != CHECKPOINT_VERSION:
            raise SearchConfigError(f"{self.checkpoint_path}: checkpoint version {state.get('version')!r} "
                                    f"is not supported (expected {CHECKPOINT_VERSION})")
        if state["experiment"] != self.experiment:
            raise SearchConfigError(f"{self.checkpoint_path} belongs to experiment {state['experiment']!r}, "
                                    f"not {self.experiment!r}")
        try:
            self.ea.load_state_dict(state["evolution"])
        except ValueError as e:
            raise SearchConfigError(f"{self.checkpoint_path}: {e}") from None
        self.run_id = state["run_id"]
        self.results = {r["arch"]: r for r in state["results"]}
        self.attempts = state["attempts"]
        self.generation_stats = state["generation_stats"]
        self.duplicates_ignored = state["duplicates_ignored"]
        self.resumed_in_flight = state["in_flight"]
        self.elapsed_before = state["elapsed_s"]
        logger.info("resuming %s from %s: generation %d, %d results, %d pending (%d were in flight)",
                    self.experiment, self.checkpoint_path, self.ea.generation, len(self.results),
                    len(self.ea.pending()), len(self.resumed_in_flight))

    # ------------------------------------------------------------------------ the loop
    def run(self):
        os.makedirs(self.output_dir, exist_ok=True)
        if self.cfg.RESUME and os.path.exists(self.checkpoint_path):
            self.load_checkpoint()
        elif os.path.exists(self.checkpoint_path):
            logger.warning("RESUME is off: starting over; %s will be overwritten", self.checkpoint_path)
        transport = self._transport_factory(self.cfg, self.experiment, self.output_dir)
        transport.run_id = self.run_id
        transport.max_attempts = self.ea.config.max_failures
        self._open_bar()
        self._curves = report.SearchCurves(self.output_dir, list(self.results.values()))
        try:
            self._take_over(transport)
            self.checkpoint(transport)
            while not self.ea.finished:
                self._close_generation_if_done()
                if not self.ea.pending() and not self._new_generation(transport):
                    break
                self._step(transport)
            self._close_generation_if_done()
            self.checkpoint(transport)
            if self.ea.finished:  # copies of re-issued tasks nobody needs any more
                transport.discard_waiting_tasks()
        finally:
            if self._bar is not None:
                self._bar.close()
            self._curves.close()
            transport.close()
        return self.write_outputs()

    def _take_over(self, transport):
        """Start or resume: adopt what an earlier run left in flight, issue the rest of the pending work."""
        pending = {arch_to_str(a) for a in self.ea.pending()}
        adopted = {}
        if self.resumed_in_flight and transport.durable:
            adopted = {k: e for k, e in self.resumed_in_flight.items() if k in pending}
            transport.adopt(adopted)
            self._drain(transport)  # what servers sent while the master was down
            for key, record in self.results.items():  # servers that missed a notice while it was down
                if record["generation"] == self.ea.generation:
                    transport.notify_final(key, record["status"])
        else:
            transport.discard_waiting_tasks()  # another run's, or nobody's any more
        issued = 0
        for arch in self.ea.pending():
            key = arch_to_str(arch)
            if key not in transport.in_flight():
                transport.submit(key, attempt=self.ea.failure_count(key) + 1)
                issued += 1
        if self.resumed_in_flight:
            logger.info("resume: %d tasks in flight adopted (not issued again), %d issued", len(adopted), issued)

    def _drain(self, transport, max_s=10.0):
        """Take in what servers sent while the master was down, before re-issuing anything."""
        before = len(self.results)
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            received = transport.poll(0.3)
            if not received:
                break
            for r in received:
                self._handle(transport, r.message, reissue=False)
            self.checkpoint(transport)
            transport.ack(received)
        logger.info("resume: %d candidates finished while the master was away", len(self.results) - before)

    def _new_generation(self, transport):
        try:
            generation = self.ea.next_generation()
        except SearchSpaceExhausted as e:
            logger.warning("stopping the search early: %s", e)
            return False
        self.checkpoint(transport)  # the proposal is fixed before any of it is issued
        for arch in generation:
            key = arch_to_str(arch)
            self.attempts.setdefault(key, {"starts": 0, "errors": [], "servers": []})
            transport.submit(key, attempt=1)
        self.checkpoint(transport)
        logger.info("generation %d: %d candidates issued", self.ea.generation, len(generation))
        return True

    def _step(self, transport):
        received = transport.poll(self.cfg.MASTER.POLL_INTERVAL_S)
        changed = False
        for r in received:
            changed |= self._handle(transport, r.message)
        for entry in transport.expired(self.cfg.MASTER.TASK_TIMEOUT_S):
            changed = True
            transport.forget(entry.arch)
            where = f" on {entry.server_id}" if entry.server_id else " (never started)"
            self._fail_attempt(transport, entry.arch,
                               f"timeout: no result after {self.cfg.MASTER.TASK_TIMEOUT_S:g} s{where}")
        for entry in transport.lost(self.cfg.MASTER.SERVER_LOST_S):
            changed = True
            transport.forget(entry.arch)
            self._fail_attempt(transport, entry.arch, f"the server holding the task was lost: {entry.server_id} "
                               f"sent nothing for {self.cfg.MASTER.SERVER_LOST_S:g} s")
        if changed:
            self.checkpoint(transport)
        transport.ack(received)  # only now: a crash before the checkpoint redelivers them
        self._update_bar(transport)

    def _handle(self, transport, m, reissue=True):
        key = m["arch"]
        if not m["task_id"].startswith(self.run_id + "."):
            logger.warning("ignoring a %s message for %s of another run of experiment %r (task %s)",
                           m["type"], key, self.experiment, m["task_id"])
            return False
        try:
            self.ea.generation_of(key)
        except (KeyError, ValueError):
            logger.warning("ignoring a %s message for %s, which this search never proposed (another search "
                           "using experiment name %r?)", m["type"], key, self.experiment)
            return False
        att = self.attempts.setdefault(key, {"starts": 0, "errors": [], "servers": []})
        final = key in self.results
        if m["type"] == "progress":
            return False
        if m["type"] == "released":
            logger.info("%s put %s back in the queue (stopped)", m["server_id"], key)
            return True
        if m["type"] == "started":  # a redelivered copy is no failure: only a lost holder or an error is
            att["starts"] += 1
            att["servers"].append(m["server_id"])
            return True
        if final:
            self.duplicates_ignored += 1
            logger.info("ignoring a duplicate result for %s from %s (already %s)", key, m["server_id"],
                        self.results[key]["status"])
            return True
        if m["status"] == "ok":
            self.ea.record(key, m["metrics"]["ap"])
            self._finalise(key, "ok", m)
            transport.forget(key)
            transport.notify_final(key, "ok")
        else:
            transport.forget(key)
            # Deliveries lost before this try (servers that died before acknowledging) failed too.
            count = max(1, m["tries"] - self.ea.failure_count(key))
            self._fail_attempt(transport, key, f"{m['server_id']}: {m['error']}", reissue=reissue, count=count)
        return True

    def _fail_attempt(self, transport, key, reason, reissue=True, count=1):
        self.attempts.setdefault(key, {"starts": 0, "errors": [], "servers": []})["errors"].append(reason)
        for _ in range(count):
            outcome = self.ea.record_failure(key)
            if outcome is not FailureOutcome.RETRY:
                break
        logger.warning("candidate %s: failed attempt %d/%d: %s", key, self.ea.failure_count(key),
                       self.ea.config.max_failures, reason)
        if outcome is FailureOutcome.FAILED:
            transport.forget(key)
            self._finalise(key, "failed", None)
            transport.notify_final(key, "failed")
        elif outcome is FailureOutcome.RETRY and reissue:
            transport.submit(key, attempt=self.ea.failure_count(key) + 1)

    def _finalise(self, key, status, m):
        att = self.attempts[key]
        record = {"arch": key, "generation": self.ea.generation_of(key), "flops": self.ea.flops(key),
                  "status": status, "ap": m["metrics"]["ap"] if m else None,
                  "metrics": m["metrics"] if m else {}, "server_id": m["server_id"] if m else
                  (att["servers"][-1] if att["servers"] else None),
                  "seconds": m["seconds"] if m else None, "attempts": max(att["starts"], 1),
                  "evaluator": m["evaluator"] if m else None,
                  "errors": list(att["errors"]), "finished_at": time.time()}
        self.results[key] = record
        self._curves.add(record)
        if status == "failed":
            logger.error("candidate %s recorded as failed after %d failed attempts", key,
                         self.ea.failure_count(key))

    def _close_generation_if_done(self):
        g = self.ea.generation
        if g < 0 or self.ea.pending() or any(s["generation"] == g for s in self.generation_stats):
            return
        k = self.cfg.MASTER.TOP_K
        top = self.ea.top_k(k)
        in_gen = [r for r in self.results.values() if r["generation"] == g]
        stats = {"generation": g, "evaluated": sum(r["status"] == "ok" for r in in_gen),
                 "failed": sum(r["status"] == "failed" for r in in_gen),
                 "best_ap": top[0][1] if top else None,
                 "top_k_mean_ap": sum(s for _, s in top) / len(top) if top else None,
                 "best_arch": arch_to_str(top[0][0]) if top else None,
                 "elapsed_s": round(self.elapsed_before + time.monotonic() - self._start, 3)}
        self.generation_stats.append(stats)
        logger.info("generation %d done: %d evaluated, %d failed; best AP so far %s (%s), top-%d mean %s; "
                    "%d duplicates ignored", g, stats["evaluated"], stats["failed"], _fmt(stats["best_ap"]),
                    stats["best_arch"], k, _fmt(stats["top_k_mean_ap"]), self.duplicates_ignored)
        if self.cfg.MASTER.PLOT_EACH_GENERATION:
            self._plot()

    # ------------------------------------------------------------------------ outputs
    def _plot(self):
        stats = [s for s in self.generation_stats if s["best_ap"] is not None]
        try:
            report.plot_progress(os.path.join(self.output_dir, PLOT_NAME), stats, list(self.results.values()),
                                 self.ea.config.max_flops, self.ea.config.min_flops, self.cfg.MASTER.TOP_K,
                                 title=f"DetNAS search {self.experiment}" + self._synthetic_label())
        except Exception:  # a plot must never stop a search
            logger.exception("could not draw %s", PLOT_NAME)

    def _evaluators(self):
        return sorted({r.get("evaluator") for r in self.results.values() if r.get("evaluator")})

    def _synthetic_label(self):
        synthetic = "synthetic" in self._evaluators()
        return " (SYNTHETIC evaluator: made-up AP, not a real search)" if synthetic else ""

    def write_outputs(self):
        records = sorted(self.results.values(), key=lambda r: (r["generation"], r["finished_at"]))
        ok = [r for r in records if r["status"] == "ok"]
        top = sorted(ok, key=lambda r: (-r["ap"], r["arch"]))[: self.cfg.MASTER.TOP_K]
        best = top[0] if top else None
        summary = {
            "schema_version": 1, "experiment": self.experiment, "finished": self.ea.finished,
            # Which evaluators scored the candidates; "synthetic" means the AP values are made up.
            "evaluators": self._evaluators(), "synthetic": "synthetic" in self._evaluators(),
            "search_space_exhausted": self.ea.exhausted,
            "space": {"size": self.cfg.SPACE.SIZE, "num_blocks": self.ea.num_blocks,
                      "num_choices": self.ea.num_choices, "flops_model": self.cfg.SPACE.FLOPS_MODEL,
                      "flops_input_size": self.cfg.SPACE.FLOPS_INPUT_SIZE},
            "evolution": self.ea.config.to_dict(),
            "num_evaluated": len(ok), "num_failed": len(records) - len(ok),
            "duplicates_ignored": self.duplicates_ignored,
            "elapsed_s": self.elapsed_before + time.monotonic() - self._start,
            "generations": self.generation_stats,
            "results": records,
            "top_k": top,
            "best": None if best is None else {
                "arch": best["arch"], "ap": best["ap"], "flops": best["flops"],
                "config_key": "MODEL.BACKBONE.ARCH", "override": f"MODEL.BACKBONE.ARCH {best['arch']}"},
        }
        report.write_json_atomic(os.path.join(self.output_dir, RESULTS_NAME), summary)
        self._plot()
        if best is not None:
            report.write_best_arch_yaml(os.path.join(self.output_dir, "best_arch.yaml"), best["arch"],
                                        note=self._synthetic_label().strip(" ()"))
            logger.info("best architecture %s: AP %.4f, %.1f MFLOPs", best["arch"], best["ap"], best["flops"] / 1e6)
            print(f"MODEL.BACKBONE.ARCH {best['arch']}", flush=True)
        else:
            logger.error("no candidate was evaluated successfully")
        logger.info("wrote %s, %s, best_arch.yaml to %s", RESULTS_NAME, PLOT_NAME, self.output_dir)
        return summary

    # ------------------------------------------------------------------------ progress
    def _open_bar(self):
        mode = self.cfg.MASTER.PROGRESS_BAR
        if mode == "off" or (mode == "auto" and not sys.stderr.isatty()):
            return
        from tqdm import tqdm

        total = self.ea.config.population_size * self.ea.config.num_generations
        self._bar = tqdm(total=total, initial=len(self.results), desc=f"search {self.experiment}",
                         unit="arch", dynamic_ncols=True)

    def _update_bar(self, transport):
        if self._bar is None:
            return
        self._bar.n = len(self.results)
        failed = sum(r["status"] == "failed" for r in self.results.values())
        top = self.ea.top_k(1)
        self._bar.set_postfix(gen=self.ea.generation, in_flight=len(transport.in_flight()), failed=failed,
                              best=f"{top[0][1]:.4f}" if top else "-", refresh=False)
        self._bar.refresh()


def _fmt(x):
    return "-" if x is None else f"{x:.4f}"


# ------------------------------------------------------------------------------------- CLI
def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m distributed_arch_search.search",
                                description="DetNAS evolutionary architecture search (master).")
    p.add_argument("--config", default="", help="yaml with search settings (see arch_search_config.py)")
    p.add_argument("--experiment", default="", help="experiment name (= EXPERIMENT)")
    p.add_argument("--output-dir", default="", help="= OUTPUT_DIR (default output/search/<experiment>)")
    p.add_argument("--amqp-url", default="", help="broker URL (= TRANSPORT.AMQP_URL; else $DETNAS_AMQP_URL)")
    p.add_argument("--backend", default="", choices=["", "auto", "local", "rabbitmq"],
                   help="= TRANSPORT.BACKEND")
    p.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    p.add_argument("--delete-queues", action="store_true",
                   help="delete the experiment's broker queues and exit")
    p.add_argument("--log-level", default="INFO")
    from maskrcnn_benchmark.utils.cli import config_key_predicate, parse_args_with_overrides

    from .arch_search_config import _C as search_defaults

    # KEY VALUE overrides (e.g. EVOLUTION.MAX_FLOPS 330M) go in args.opts, before or after flags.
    return parse_args_with_overrides(p, argv, config_key_predicate(search_defaults))


def config_from_args(args):
    opts = list(args.opts)
    for flag, key in ((args.experiment, "EXPERIMENT"), (args.output_dir, "OUTPUT_DIR"),
                      (args.amqp_url, "TRANSPORT.AMQP_URL"), (args.backend, "TRANSPORT.BACKEND")):
        if flag:
            opts += [key, flag]
    if args.no_resume:
        opts += ["RESUME", "False"]
    return load_search_config(args.config, opts)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = config_from_args(args)
        experiment = experiment_name(cfg)
        output_dir = cfg.OUTPUT_DIR or default_output_dir(experiment)
        os.makedirs(output_dir, exist_ok=True)
        setup_logging(args.log_level, os.path.join(output_dir, "search.log"))
        if args.delete_queues:
            from .transport.amqp import delete_topology

            delete_topology(resolve_url(cfg.TRANSPORT.AMQP_URL), experiment)
            logger.info("deleted the queues of experiment %s", experiment)
            return 0
        summary = SearchMaster(cfg).run()
    except (SearchConfigError, BrokerConfigError, BrokerUnavailable, LocalWorkerError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0 if summary["best"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
