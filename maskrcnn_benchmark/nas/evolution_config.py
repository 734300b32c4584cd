"""The settings of the evolutionary search (nas/evolution.py), with their defaults (the paper's) and
their checks: the one home of those defaults (the search master's config takes them from here)."""

import dataclasses
import math
from typing import Optional, Tuple

from .arch import arch_to_str


@dataclasses.dataclass(frozen=True)
class EvolutionConfig:
    """Settings of the search; the defaults are the paper's."""

    population_size: int = 50
    num_generations: int = 20
    num_parents: int = 10
    num_mutants: int = 20
    mutation_prob: float = 0.1
    num_crossovers: int = 20
    max_flops: float = 300e6
    min_flops: Optional[float] = None
    max_failures: int = 3
    seed: int = 0
    # Bound on the draws of one operator: this many per architecture it has to produce.
    max_draws_per_candidate: int = 100
    # Architectures (digit strings) that open generation 0 before the random ones, e.g. known good
    # ones, or the fixed list a ranking study evaluates.
    initial_population: Tuple[str, ...] = ()

    def __post_init__(self):
        def need(ok, what):
            if not ok:
                raise ValueError(f"EvolutionConfig: {what}")

        for name in ("population_size", "num_generations", "num_parents", "max_failures", "max_draws_per_candidate"):
            need(
                isinstance(getattr(self, name), int) and getattr(self, name) >= 1,
                f"{name} must be an int >= 1, got {getattr(self, name)!r}",
            )
        for name in ("num_mutants", "num_crossovers", "seed"):
            need(
                isinstance(getattr(self, name), int) and getattr(self, name) >= 0,
                f"{name} must be an int >= 0, got {getattr(self, name)!r}",
            )
        need(
            self.num_mutants + self.num_crossovers <= self.population_size,
            f"num_mutants + num_crossovers ({self.num_mutants} + {self.num_crossovers}) must not exceed "
            f"population_size ({self.population_size})",
        )
        need(0.0 <= self.mutation_prob <= 1.0, f"mutation_prob must be in [0, 1], got {self.mutation_prob!r}")
        need(
            is_finite_number(self.max_flops) and self.max_flops > 0,
            f"max_flops must be a positive number, got {self.max_flops!r}",
        )
        need(
            self.min_flops is None or (is_finite_number(self.min_flops) and self.min_flops <= self.max_flops),
            f"min_flops must be None or a number <= max_flops ({self.max_flops}), got {self.min_flops!r}",
        )
        object.__setattr__(self, "initial_population", tuple(arch_to_str(a) for a in self.initial_population))
        need(
            len(set(self.initial_population)) == len(self.initial_population),
            f"initial_population has repeated architectures: {list(self.initial_population)}",
        )
        need(
            len(self.initial_population) <= self.population_size,
            f"initial_population has {len(self.initial_population)} architectures, more than "
            f"population_size ({self.population_size})",
        )

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["initial_population"] = list(self.initial_population)  # JSON has no tuples
        return d

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"EvolutionConfig: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if k == "initial_population" else v for k, v in d.items()})


def is_finite_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
