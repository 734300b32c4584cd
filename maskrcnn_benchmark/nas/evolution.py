"""The evolutionary search of DetNAS over architecture codes: pure logic, no I/O, no threads, no clock.

An architecture is a tuple of ints, one per block, each in ``range(num_choices)``; its key is the digit
string (``arch_to_str``), e.g. ``(0, 2, 1, 3)`` -> ``"0213"``. The search is an ask/tell state machine so
the master can checkpoint after every result and resume after a crash::

    ea = EvolutionSearch(num_blocks=20, num_choices=4,
                         flops_fn=functools.partial(count_flops, "300M"), config=EvolutionConfig())
    while not ea.finished:
        if not ea.pending():
            candidates = ea.next_generation()
        for arch in ea.pending():           # after a resume this is what is left of the generation
            ... evaluate ...
            ea.record(arch, ap)              # or ea.record_failure(arch, reason)
    best = ea.top_k(1)

Generation 0 is ``initial_population`` (if given) then random legal architectures up to
``population_size``. Every later generation takes the top
``num_parents`` over *all* architectures evaluated so far (as in the paper and SPOS), makes
``num_mutants`` mutants (each gene redrawn uniformly with probability ``mutation_prob``),
``num_crossovers`` children (each gene taken from one of two distinct parents with equal probability)
and fills the rest with random legal architectures. Legal means ``min_flops <= flops_fn(arch) <=
max_flops`` and never proposed before (so nothing is evaluated twice).

Every operator gets a bounded number of draws (``max_draws_per_candidate`` per architecture it has to
produce). When an operator cannot produce enough, random architectures fill the gap; when even that
fails, the generation is smaller (logged as a warning), and when not a single new legal architecture
can be found, ``next_generation`` raises ``SearchSpaceExhausted`` and the search is finished.

All randomness comes from one ``random.Random`` seeded by ``config.seed``; its state is part of
``state_dict()`` (plain JSON types), so a resumed search proposes exactly what the uninterrupted one
would have. Proposals depend only on the set of results, not on the order they arrived in.
"""

import enum
import logging
import random
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from .arch import arch_to_str
from .evolution_config import EvolutionConfig, is_finite_number

logger = logging.getLogger(__name__)

Arch = Tuple[int, ...]
ArchLike = Union[str, Sequence[int]]

STATE_VERSION = 1


class SearchSpaceExhausted(RuntimeError):
    """No new architecture within the FLOPs limits could be found within the bounded number of draws."""


class FailureOutcome(enum.Enum):
    RETRY = "retry"  # fewer than max_failures failures so far: evaluate it again
    FAILED = "failed"  # the failure limit is reached: recorded as failed, never retried, never a parent
    IGNORED = "ignored"  # the architecture already has a final outcome (a late duplicate)


def arch_key(arch: ArchLike) -> str:
    """The digit string of an architecture (its identity everywhere in the search): nas.arch's."""
    return arch_to_str(arch)


class EvolutionSearch:
    """Ask/tell evolutionary search; see the module docstring."""

    def __init__(
        self,
        num_blocks: int,
        num_choices: int,
        flops_fn: Callable[[Arch], float],
        config: Optional[EvolutionConfig] = None,
    ):
        if not (isinstance(num_blocks, int) and num_blocks >= 1):
            raise ValueError(f"num_blocks must be an int >= 1, got {num_blocks!r}")
        # Keys are digit strings, so a choice must be a single digit.
        if not (isinstance(num_choices, int) and 1 <= num_choices <= 10):
            raise ValueError(f"num_choices must be an int in 1..10, got {num_choices!r}")
        self.num_blocks = num_blocks
        self.num_choices = num_choices
        self.config = config if config is not None else EvolutionConfig()
        self._flops_fn = flops_fn
        self._rng = random.Random(self.config.seed)
        self._generations: List[List[str]] = []  # keys proposed per generation, in proposal order
        self._proposed: Dict[str, int] = {}  # key -> generation that proposed it
        self._flops: Dict[str, float] = {}  # cache; proposed keys are kept in the state
        self._scores: Dict[str, float] = {}  # final: evaluated
        self._failures: Dict[str, int] = {}  # failure counts (final when in _failed)
        self._failed: Dict[str, int] = {}  # final: failed, key -> generation
        self._exhausted = False
        for key in self.config.initial_population:
            self._checked_key(key)
            if not self._is_legal(key):
                raise ValueError(
                    f"initial_population: {key} has {self._flops_of(key):.4g} FLOPs, outside {self._flops_range()}"
                )

    # ------------------------------------------------------------------------------------------ queries
    @property
    def generation(self) -> int:
        """Index of the latest generation proposed (-1 before the first)."""
        return len(self._generations) - 1

    @property
    def finished(self) -> bool:
        if self.pending():
            return False
        return self._exhausted or len(self._generations) >= self.config.num_generations

    @property
    def exhausted(self) -> bool:
        return self._exhausted

    def pending(self) -> List[Arch]:
        """Architectures of the latest generation that have no final outcome yet, in proposal order."""
        if not self._generations:
            return []
        return [self.decode(k) for k in self._generations[-1] if not self._is_final(k)]

    def generations(self) -> List[List[Arch]]:
        return [[self.decode(k) for k in g] for g in self._generations]

    def generation_of(self, arch: ArchLike) -> int:
        return self._proposed[self._known_key(arch)]

    def flops(self, arch: ArchLike) -> float:
        return self._flops_of(self._checked_key(arch))

    def scores(self) -> Dict[str, float]:
        """Key -> score of every architecture evaluated successfully."""
        return dict(self._scores)

    def failed(self) -> List[str]:
        return list(self._failed)

    def failure_count(self, arch: ArchLike) -> int:
        return self._failures.get(self._known_key(arch), 0)

    def top_k(self, k: int, up_to_generation: Optional[int] = None) -> List[Tuple[Arch, float]]:
        """The k best (arch, score) over all successful evaluations (optionally of generations <= g).

        Ties are broken by the key, so the order never depends on the order results arrived in.
        """
        items = [
            (key, s)
            for key, s in self._scores.items()
            if up_to_generation is None or self._proposed[key] <= up_to_generation
        ]
        items.sort(key=lambda ks: (-ks[1], ks[0]))
        return [(self.decode(key), s) for key, s in items[:k]]

    def decode(self, key: str) -> Arch:
        return tuple(int(c) for c in key)

    # ------------------------------------------------------------------------------------------- tell
    def record(self, arch: ArchLike, score: float) -> bool:
        """Record a successful evaluation. Returns False (and changes nothing) for an architecture that
        already has a final outcome, e.g. a duplicate result from a redelivered task."""
        key = self._known_key(arch)
        if not is_finite_number(score):
            raise ValueError(f"score of {key} must be a finite number, got {score!r}")
        if self._is_final(key):
            return False
        self._scores[key] = float(score)
        return True

    def record_failure(self, arch: ArchLike) -> FailureOutcome:
        """Count one failed attempt; at ``max_failures`` the architecture is final as failed."""
        key = self._known_key(arch)
        if self._is_final(key):
            return FailureOutcome.IGNORED
        self._failures[key] = self._failures.get(key, 0) + 1
        if self._failures[key] >= self.config.max_failures:
            self._failed[key] = self._proposed[key]
            return FailureOutcome.FAILED
        return FailureOutcome.RETRY

    # -------------------------------------------------------------------------------------------- ask
    def next_generation(self) -> List[Arch]:
        """Propose the next generation (all new, all within the FLOPs limits)."""
        if self.pending():
            raise RuntimeError(
                f"generation {self.generation} still has {len(self.pending())} architectures without a "
                f"result; record their results or failures before asking for the next generation"
            )
        if self.finished:
            raise RuntimeError("the search is finished; no further generation")
        cfg = self.config
        gen_index = len(self._generations)
        taken: Dict[str, None] = {}  # this generation's keys, insertion-ordered
        if gen_index == 0:
            taken.update(dict.fromkeys(cfg.initial_population))
        parents = [arch for arch, _ in self.top_k(cfg.num_parents)]
        if parents:
            self._fill(taken, cfg.num_mutants, lambda: self._mutate(self._rng.choice(parents)))
            if len(parents) >= 2:
                self._fill(
                    taken, len(taken) + cfg.num_crossovers, lambda: self._crossover(*self._rng.sample(parents, 2))
                )
            elif cfg.num_crossovers:
                logger.warning(
                    "generation %d: only one parent succeeded so far; its %d crossovers are "
                    "replaced by random architectures",
                    gen_index,
                    cfg.num_crossovers,
                )
        self._fill(taken, cfg.population_size, self._random_arch)
        if not taken:
            self._exhausted = True
            raise SearchSpaceExhausted(
                f"generation {gen_index}: no new architecture with {self._flops_range()} found in "
                f"{cfg.population_size * cfg.max_draws_per_candidate} random draws "
                f"({len(self._proposed)} proposed so far, {self.num_blocks} blocks x {self.num_choices} "
                f"choices); the FLOPs limits may be impossible or the space used up"
            )
        if len(taken) < cfg.population_size:
            logger.warning(
                "generation %d: only %d of %d new architectures with %s found within the "
                "draw limit; this generation is smaller",
                gen_index,
                len(taken),
                cfg.population_size,
                self._flops_range(),
            )
        keys = list(taken)
        self._generations.append(keys)
        for key in keys:
            self._proposed[key] = gen_index
        return [self.decode(k) for k in keys]

    def _fill(self, taken, target, draw):
        """Add legal, new architectures made by `draw` until `taken` holds `target` (bounded draws)."""
        need = target - len(taken)
        draws = need * self.config.max_draws_per_candidate
        while len(taken) < target and draws > 0:
            draws -= 1
            key = arch_key(draw())
            if key in taken or key in self._proposed:
                continue
            if self._is_legal(key):
                taken[key] = None

    def _random_arch(self) -> Arch:
        return tuple(self._rng.randrange(self.num_choices) for _ in range(self.num_blocks))

    def _mutate(self, parent: Arch) -> Arch:
        p = self.config.mutation_prob
        return tuple(self._rng.randrange(self.num_choices) if self._rng.random() < p else c for c in parent)

    def _crossover(self, a: Arch, b: Arch) -> Arch:
        return tuple(x if self._rng.random() < 0.5 else y for x, y in zip(a, b))

    def _is_legal(self, key: str) -> bool:
        f = self._flops_of(key)
        lo = self.config.min_flops
        return f <= self.config.max_flops and (lo is None or f >= lo)

    def _flops_of(self, key: str) -> float:
        f = self._flops.get(key)
        if f is None:
            f = self._flops_fn(self.decode(key))
            if not is_finite_number(f):
                raise ValueError(f"flops_fn returned {f!r} for {key}; expected a finite number")
            self._flops[key] = f
        return f

    def _flops_range(self):
        lo = self.config.min_flops
        return (
            f"{lo:.4g} <= FLOPs <= {self.config.max_flops:.4g}"
            if lo is not None
            else f"FLOPs <= {self.config.max_flops:.4g}"
        )

    # ------------------------------------------------------------------------------------------- keys
    def _is_final(self, key: str) -> bool:
        return key in self._scores or key in self._failed

    def _checked_key(self, arch: ArchLike) -> str:
        key = arch_key(arch)
        if len(key) != self.num_blocks or any(not c.isdigit() or int(c) >= self.num_choices for c in key):
            raise ValueError(f"architecture {key!r} is not {self.num_blocks} digits in 0..{self.num_choices - 1}")
        return key

    def _known_key(self, arch: ArchLike) -> str:
        key = self._checked_key(arch)
        if key not in self._proposed:
            raise KeyError(f"architecture {key} was never proposed by this search")
        return key

    # ------------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to resume, as plain JSON types."""
        version, internal, gauss_next = self._rng.getstate()
        return {
            "version": STATE_VERSION,
            "num_blocks": self.num_blocks,
            "num_choices": self.num_choices,
            "config": self.config.to_dict(),
            "rng_state": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
            "generations": [list(g) for g in self._generations],
            "flops": {k: self._flops[k] for k in self._proposed},
            "scores": dict(self._scores),
            "failures": dict(self._failures),
            "failed": sorted(self._failed),
            "exhausted": self._exhausted,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from ``state_dict``. The search space and the config must match, except
        ``num_generations``, which may be raised to extend a finished search."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"evolution state version {state.get('version')!r} is not supported (expected {STATE_VERSION})"
            )
        if (state["num_blocks"], state["num_choices"]) != (self.num_blocks, self.num_choices):
            raise ValueError(
                f"evolution state is for {state['num_blocks']} blocks x {state['num_choices']} "
                f"choices, this search has {self.num_blocks} x {self.num_choices}"
            )
        saved = EvolutionConfig.from_dict(state["config"]).to_dict()
        mine = self.config.to_dict()
        differ = sorted(k for k in mine if k != "num_generations" and saved[k] != mine[k])
        if differ:
            raise ValueError(
                "evolution state was made with a different config: "
                + ", ".join(f"{k}: saved {saved[k]!r}, now {mine[k]!r}" for k in differ)
            )
        rng = state["rng_state"]
        self._rng.setstate((rng["version"], tuple(rng["internal"]), rng["gauss_next"]))
        self._generations = [list(g) for g in state["generations"]]
        self._proposed = {k: i for i, g in enumerate(self._generations) for k in g}
        for k in self._proposed:
            self._checked_key(k)
        self._flops = {k: state["flops"][k] for k in self._proposed}
        self._scores = {k: float(v) for k, v in state["scores"].items()}
        self._failures = {k: int(v) for k, v in state["failures"].items()}
        self._failed = {k: self._proposed[k] for k in state["failed"]}
        self._exhausted = bool(state["exhausted"])
        unknown = sorted((set(self._scores) | set(self._failures)) - set(self._proposed))
        if unknown:
            raise ValueError(f"evolution state has results for architectures never proposed: {unknown[:5]}")
