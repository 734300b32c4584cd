"""The search master's settings: the yacs search config (arch_search_config.py) translated, in this one
place, into the explicit values the master, the evolution and the transports take."""

import dataclasses
import functools
from typing import Callable

from maskrcnn_benchmark.nas.evolution import EvolutionConfig

from .arch_search_config import SearchConfigError, parse_flops
from .outputs import default_output_dir
from .transport.factory import backend_of


@dataclasses.dataclass(frozen=True)
class SpaceSettings:
    size: str
    num_blocks: int
    num_choices: int
    flops_model: str
    flops_input_size: int
    flops_fn: Callable

    def summary(self):
        """What search_results.json says about the space."""
        return {
            "size": self.size,
            "num_blocks": self.num_blocks,
            "num_choices": self.num_choices,
            "flops_model": self.flops_model,
            "flops_input_size": self.flops_input_size,
        }


@dataclasses.dataclass(frozen=True)
class MasterSettings:
    experiment: str
    output_dir: str
    resume: bool
    space: SpaceSettings
    evolution: EvolutionConfig
    poll_interval_s: float
    task_timeout_s: float
    server_lost_s: float
    top_k: int
    plot_each_generation: bool
    progress_bar: str  # "auto", "on" or "off"
    config_dump: str  # the whole search config as yaml, kept in the checkpoint for the record


def master_settings(cfg):
    experiment = experiment_name(cfg)
    m = cfg.MASTER
    return MasterSettings(
        experiment=experiment,
        output_dir=cfg.OUTPUT_DIR or default_output_dir(experiment),
        resume=cfg.RESUME,
        space=space_settings(cfg),
        evolution=evolution_config(cfg),
        poll_interval_s=m.POLL_INTERVAL_S,
        task_timeout_s=m.TASK_TIMEOUT_S,
        server_lost_s=m.SERVER_LOST_S,
        top_k=m.TOP_K,
        plot_each_generation=m.PLOT_EACH_GENERATION,
        progress_bar=m.PROGRESS_BAR,
        config_dump=cfg.dump(),
    )


def evolution_config(cfg):
    e = cfg.EVOLUTION
    try:
        return EvolutionConfig(
            population_size=e.POPULATION_SIZE,
            num_generations=e.NUM_GENERATIONS,
            num_parents=e.NUM_PARENTS,
            num_mutants=e.NUM_MUTANTS,
            mutation_prob=e.MUTATION_PROB,
            num_crossovers=e.NUM_CROSSOVERS,
            max_flops=parse_flops(e.MAX_FLOPS, "EVOLUTION.MAX_FLOPS"),
            min_flops=parse_flops(e.MIN_FLOPS, "EVOLUTION.MIN_FLOPS") if e.MIN_FLOPS else None,
            max_failures=e.MAX_FAILURES,
            seed=e.SEED,
            max_draws_per_candidate=e.MAX_DRAWS_PER_CANDIDATE,
            initial_population=tuple(e.INITIAL_POPULATION),
        )
    except ValueError as err:
        raise SearchConfigError(f"EVOLUTION settings: {err}") from None


def _linear_flops(base, per_choice, arch):
    return base + sum(per_choice[c] for c in arch)


def space_settings(cfg):
    num_blocks, num_choices, flops_fn = search_space(cfg)
    return SpaceSettings(
        size=cfg.SPACE.SIZE,
        num_blocks=num_blocks,
        num_choices=num_choices,
        flops_model=cfg.SPACE.FLOPS_MODEL,
        flops_input_size=cfg.SPACE.FLOPS_INPUT_SIZE,
        flops_fn=flops_fn,
    )


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
            raise SearchConfigError(
                f"SPACE.LINEAR_FLOPS_PER_CHOICE needs {num_choices} values (one per "
                f"choice), got {list(space.LINEAR_FLOPS_PER_CHOICE)}"
            )
        flops_fn = functools.partial(_linear_flops, parse_flops(space.LINEAR_FLOPS_BASE), per_choice)
    else:
        if (num_blocks, num_choices) != (preset.num_blocks, preset.num_choices):
            raise SearchConfigError(
                f"SPACE.NUM_BLOCKS/NUM_CHOICES {num_blocks}/{num_choices} disagree with the {preset.name} "
                f"preset ({preset.num_blocks} blocks, {preset.num_choices} choices); leave them 0"
            )
        flops_fn = functools.partial(count_flops, preset.name, input_size=space.FLOPS_INPUT_SIZE)
    return num_blocks, num_choices, flops_fn


def experiment_name(cfg):
    if cfg.EXPERIMENT:
        return cfg.EXPERIMENT
    if backend_of(cfg) == "rabbitmq":
        raise SearchConfigError(
            "set EXPERIMENT (--experiment NAME): it names the broker queues, and two searches must not share them"
        )
    return "local"
