"""The search master: runs the evolutionary search, hands candidates to evaluators, records every result.

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

import functools
import logging
import os
import time
import uuid

from maskrcnn_benchmark.nas.arch import arch_to_str
from maskrcnn_benchmark.nas.evolution import EvolutionSearch, FailureOutcome, SearchSpaceExhausted

from . import report
from .arch_search_config import SearchConfigError
from .master_settings import master_settings
from .progress import SearchProgressBar
from .transport.factory import make_transport

logger = logging.getLogger("distributed_arch_search.search")


def _new_attempts():
    return {"starts": 0, "errors": [], "servers": []}


class SearchMaster:
    """`settings`: a MasterSettings; `transport_factory(experiment, output_dir)` opens the transport."""

    def __init__(self, settings, transport_factory):
        self.settings = settings
        self.experiment = settings.experiment
        self.output_dir = settings.output_dir
        self.checkpoint_path = os.path.join(self.output_dir, report.CHECKPOINT_NAME)
        space = settings.space
        self.ea = EvolutionSearch(space.num_blocks, space.num_choices, space.flops_fn, settings.evolution)
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

    @classmethod
    def from_config(cls, cfg):
        """The master of a yacs search config (arch_search_config.py), with the transport it names."""
        return cls(master_settings(cfg), functools.partial(make_transport, cfg))

    def _elapsed(self):
        return self.elapsed_before + time.monotonic() - self._start

    # ------------------------------------------------------------------------ checkpoint
    def _state(self, transport):
        in_flight = {k: e.to_dict() for k, e in transport.in_flight().items()} if transport else {}
        return {
            "version": report.CHECKPOINT_VERSION,
            "experiment": self.experiment,
            "run_id": self.run_id,
            "config": self.settings.config_dump,
            "evolution": self.ea.state_dict(),
            "results": list(self.results.values()),
            "attempts": self.attempts,
            "in_flight": in_flight,
            "generation_stats": self.generation_stats,
            "duplicates_ignored": self.duplicates_ignored,
            "elapsed_s": self._elapsed(),
            "saved_at": time.time(),
        }

    def checkpoint(self, transport):
        report.write_json_atomic(self.checkpoint_path, self._state(transport))

    def load_checkpoint(self):
        state = report.read_checkpoint(self.checkpoint_path, self.experiment)
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
        logger.info(
            "resuming %s from %s: generation %d, %d results, %d pending (%d were in flight)",
            self.experiment,
            self.checkpoint_path,
            self.ea.generation,
            len(self.results),
            len(self.ea.pending()),
            len(self.resumed_in_flight),
        )

    # ------------------------------------------------------------------------ the loop
    def run(self):
        os.makedirs(self.output_dir, exist_ok=True)
        if self.settings.resume and os.path.exists(self.checkpoint_path):
            self.load_checkpoint()
        elif os.path.exists(self.checkpoint_path):
            logger.warning("RESUME is off: starting over; %s will be overwritten", self.checkpoint_path)
        transport = self._transport_factory(self.experiment, self.output_dir)
        transport.run_id = self.run_id
        transport.max_attempts = self.ea.config.max_failures
        self._bar = SearchProgressBar(
            self.settings.progress_bar,
            self.ea.config.population_size * self.ea.config.num_generations,
            len(self.results),
            f"search {self.experiment}",
        )
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
            self.attempts.setdefault(key, _new_attempts())
            transport.submit(key, attempt=1)
        self.checkpoint(transport)
        logger.info("generation %d: %d candidates issued", self.ea.generation, len(generation))
        return True

    def _step(self, transport):
        s = self.settings
        received = transport.poll(s.poll_interval_s)
        changed = False
        for r in received:
            changed |= self._handle(transport, r.message)
        for entry in transport.expired(s.task_timeout_s):
            changed = True
            transport.forget(entry.arch)
            where = f" on {entry.server_id}" if entry.server_id else " (never started)"
            self._fail_attempt(transport, entry.arch, f"timeout: no result after {s.task_timeout_s:g} s{where}")
        for entry in transport.lost(s.server_lost_s):
            changed = True
            transport.forget(entry.arch)
            self._fail_attempt(
                transport,
                entry.arch,
                f"the server holding the task was lost: {entry.server_id} sent nothing for {s.server_lost_s:g} s",
            )
        if changed:
            self.checkpoint(transport)
        transport.ack(received)  # only now: a crash before the checkpoint redelivers them
        if self._bar.enabled:  # the counts below cost a pass over the results: only for a shown bar
            self._update_bar(transport)

    def _update_bar(self, transport):
        top = self.ea.top_k(1)
        self._bar.update(
            len(self.results),
            self.ea.generation,
            len(transport.in_flight()),
            sum(r["status"] == "failed" for r in self.results.values()),
            top[0][1] if top else None,
        )

    def _handle(self, transport, m, reissue=True):
        key = m["arch"]
        if not m["task_id"].startswith(self.run_id + "."):
            logger.warning(
                "ignoring a %s message for %s of another run of experiment %r (task %s)",
                m["type"],
                key,
                self.experiment,
                m["task_id"],
            )
            return False
        try:
            self.ea.generation_of(key)
        except (KeyError, ValueError):
            logger.warning(
                "ignoring a %s message for %s, which this search never proposed (another search "
                "using experiment name %r?)",
                m["type"],
                key,
                self.experiment,
            )
            return False
        att = self.attempts.setdefault(key, _new_attempts())
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
            logger.info(
                "ignoring a duplicate result for %s from %s (already %s)",
                key,
                m["server_id"],
                self.results[key]["status"],
            )
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
        self.attempts.setdefault(key, _new_attempts())["errors"].append(reason)
        for _ in range(count):
            outcome = self.ea.record_failure(key)
            if outcome is not FailureOutcome.RETRY:
                break
        logger.warning(
            "candidate %s: failed attempt %d/%d: %s",
            key,
            self.ea.failure_count(key),
            self.ea.config.max_failures,
            reason,
        )
        if outcome is FailureOutcome.FAILED:
            transport.forget(key)
            self._finalise(key, "failed", None)
            transport.notify_final(key, "failed")
        elif outcome is FailureOutcome.RETRY and reissue:
            transport.submit(key, attempt=self.ea.failure_count(key) + 1)

    def _finalise(self, key, status, m):
        record = report.final_record(key, status, m, self.attempts[key], self.ea.generation_of(key), self.ea.flops(key))
        self.results[key] = record
        self._curves.add(record)
        if status == "failed":
            logger.error("candidate %s recorded as failed after %d failed attempts", key, self.ea.failure_count(key))

    def _close_generation_if_done(self):
        g = self.ea.generation
        if g < 0 or self.ea.pending() or any(s["generation"] == g for s in self.generation_stats):
            return
        k = self.settings.top_k
        stats = report.generation_summary(g, self.results.values(), self.ea.top_k(k), self._elapsed())
        self.generation_stats.append(stats)
        logger.info(
            "generation %d done: %d evaluated, %d failed; best AP so far %s (%s), top-%d mean %s; "
            "%d duplicates ignored",
            g,
            stats["evaluated"],
            stats["failed"],
            _fmt(stats["best_ap"]),
            stats["best_arch"],
            k,
            _fmt(stats["top_k_mean_ap"]),
            self.duplicates_ignored,
        )
        if self.settings.plot_each_generation:
            report.plot_search(self.settings, self.generation_stats, list(self.results.values()))

    # ------------------------------------------------------------------------ outputs
    def write_outputs(self):
        summary = report.search_summary(
            self.settings,
            self.results.values(),
            self.generation_stats,
            finished=self.ea.finished,
            exhausted=self.ea.exhausted,
            duplicates_ignored=self.duplicates_ignored,
            elapsed_s=self._elapsed(),
        )
        report.write_search_outputs(self.settings, summary)
        return summary


def _fmt(x):
    return "-" if x is None else f"{x:.4f}"
