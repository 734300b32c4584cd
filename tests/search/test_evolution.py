"""The evolutionary algorithm alone: sizes, operators, limits, dedup, determinism, bounds, state."""

import json
import logging

import pytest

from maskrcnn_benchmark.nas.evolution import (
    EvolutionConfig,
    EvolutionSearch,
    FailureOutcome,
    SearchSpaceExhausted,
    arch_key,
)

COSTS = (10, 20, 30, 40)  # toy FLOPs per block for choices 0..3


def toy_flops(arch):
    return sum(COSTS[c] for c in arch)


def toy_score(arch):
    # A fixed, arch-dependent score with ties impossible in practice.
    return sum((i + 1) * (c + 1) * 0.001 for i, c in enumerate(arch)) + int(arch_key(arch), 4) * 1e-12


def make(num_blocks=20, max_flops=500, calls=None, **kw):
    def flops(arch):
        if calls is not None:
            calls.append(arch)
        return toy_flops(arch)

    return EvolutionSearch(num_blocks, 4, flops, EvolutionConfig(max_flops=max_flops, **kw))


def run_generation(ea, score=toy_score, order=lambda xs: xs):
    for arch in order(ea.next_generation()):
        assert ea.record(arch, score(arch))


def test_paper_defaults():
    cfg = EvolutionConfig()
    assert (cfg.population_size, cfg.num_generations, cfg.num_parents) == (50, 20, 10)
    assert (cfg.num_mutants, cfg.mutation_prob, cfg.num_crossovers) == (20, 0.1, 20)
    assert cfg.max_flops == 300e6 and cfg.min_flops is None and cfg.max_failures == 3


def test_generation_sizes_limits_and_no_duplicates():
    ea = make(max_flops=450, min_flops=300)
    seen = set()
    for g in range(5):
        gen = ea.next_generation()
        assert len(gen) == 50 and ea.generation == g
        keys = [arch_key(a) for a in gen]
        assert len(set(keys)) == 50 and not (set(keys) & seen)
        seen.update(keys)
        for a in gen:
            assert len(a) == 20 and all(0 <= c < 4 for c in a)
            assert 300 <= toy_flops(a) <= 450
            ea.record(a, toy_score(a))
    assert len(ea.scores()) == 250


def test_search_improves_the_score():
    ea = make(max_flops=600, num_generations=6)
    while not ea.finished:
        run_generation(ea)
    best_first = max(toy_score(a) for a in ea.generations()[0])
    assert ea.top_k(1)[0][1] > best_first


def test_mutants_stay_close_to_parents():
    ea = make(max_flops=600, population_size=20, num_mutants=20, num_crossovers=0, mutation_prob=0.1)
    run_generation(ea)
    parents = [a for a, _ in ea.top_k(10)]
    for child in ea.next_generation():
        dist = min(sum(x != y for x, y in zip(child, p)) for p in parents)
        assert 1 <= dist <= 10  # 20 genes at p=0.1 (3/4 of redraws change the value): never 0, rarely > 6


def test_mutation_rate():
    ea = make()
    parent = (0,) * 20
    changed = sum(sum(c != 0 for c in ea._mutate(parent)) for _ in range(2000))
    # Redrawn with probability 0.1, and a redraw keeps the old value with probability 1/4.
    assert abs(changed / (2000 * 20) - 0.075) < 0.01


def test_crossover_children_take_each_gene_from_two_distinct_parents():
    ea = make(max_flops=600, population_size=20, num_mutants=0, num_crossovers=20)
    run_generation(ea)
    parents = [a for a, _ in ea.top_k(10)]
    for child in ea.next_generation():
        assert any(
            all(c in (x, y) for c, x, y in zip(child, p, q)) for i, p in enumerate(parents) for q in parents[i + 1 :]
        )


def test_failed_candidates_are_never_parents_and_stop_after_max_failures():
    ea = make(max_flops=600, population_size=12, num_mutants=4, num_crossovers=4, max_failures=3)
    gen = ea.next_generation()
    bad = max(gen, key=toy_score)  # would be the best parent
    assert ea.record_failure(bad) is FailureOutcome.RETRY
    assert ea.record_failure(bad) is FailureOutcome.RETRY
    assert bad in ea.pending()
    assert ea.record_failure(bad) is FailureOutcome.FAILED
    assert ea.record_failure(bad) is FailureOutcome.IGNORED
    assert ea.record(bad, 1.0) is False
    for a in ea.pending():
        ea.record(a, toy_score(a))
    assert ea.failed() == [arch_key(bad)] and arch_key(bad) not in ea.scores()
    assert bad not in [a for a, _ in ea.top_k(10)]
    assert bad not in ea.next_generation()


def test_duplicate_result_is_ignored_and_bad_input_is_refused():
    ea = make()
    a = ea.next_generation()[0]
    assert ea.record(a, 0.3) and not ea.record(a, 0.4)
    assert ea.scores()[arch_key(a)] == 0.3
    with pytest.raises(KeyError, match="never proposed"):
        ea.record((3,) * 20, 0.1)
    with pytest.raises(ValueError, match="20 digits"):
        ea.record((0,) * 19, 0.1)
    with pytest.raises(ValueError, match="finite"):
        ea.record(ea.pending()[0], float("nan"))
    with pytest.raises(RuntimeError, match="without a result"):
        ea.next_generation()


def test_deterministic_from_seed_and_independent_of_result_order():
    def run(seed, order):
        ea = make(max_flops=500, seed=seed, num_generations=3)
        while not ea.finished:
            run_generation(ea, order=order)
        return ea.generations()

    a = run(0, lambda xs: xs)
    assert a == run(0, lambda xs: list(reversed(xs)))
    assert a != run(1, lambda xs: xs)


def test_impossible_flops_limit_is_bounded():
    calls = []
    ea = make(max_flops=150, calls=calls)  # the minimum is 20 * 10 = 200
    with pytest.raises(SearchSpaceExhausted, match="FLOPs <= 150"):
        ea.next_generation()
    assert len(calls) <= 50 * EvolutionConfig().max_draws_per_candidate
    assert ea.finished and ea.exhausted


def test_small_space_gives_smaller_generation_then_exhaustion(caplog):
    ea = EvolutionSearch(
        3,
        2,
        lambda a: 1.0,
        EvolutionConfig(
            population_size=5, num_mutants=2, num_crossovers=2, num_parents=2, max_flops=10, max_draws_per_candidate=50
        ),
    )
    run_generation(ea, score=lambda a: sum(a) * 0.1)
    with caplog.at_level(logging.WARNING, logger="maskrcnn_benchmark.nas.evolution"):
        second = ea.next_generation()
    assert len(second) == 3 and "smaller" in caplog.text  # only 8 architectures exist
    for a in second:
        ea.record(a, 0.0)
    with pytest.raises(SearchSpaceExhausted):
        ea.next_generation()
    assert ea.finished
    assert sorted(arch_key(a) for g in ea.generations() for a in g) == [f"{i:03b}" for i in range(8)]


def test_state_round_trip_through_json_mid_generation():
    ea = make(max_flops=500, num_generations=4)
    run_generation(ea)
    gen = ea.next_generation()
    for a in gen[:17]:
        ea.record(a, toy_score(a))
    ea.record_failure(gen[20])
    state = json.loads(json.dumps(ea.state_dict()))

    resumed = make(max_flops=500, num_generations=4)
    resumed.load_state_dict(state)
    assert resumed.pending() == ea.pending() and resumed.generations() == ea.generations()
    assert resumed.failure_count(gen[20]) == 1
    for e in (ea, resumed):
        for a in e.pending():
            e.record(a, toy_score(a))
    assert resumed.next_generation() == ea.next_generation()


def test_state_refuses_a_different_config_but_allows_more_generations():
    ea = make(max_flops=500, num_generations=1)
    run_generation(ea)
    assert ea.finished
    state = ea.state_dict()
    with pytest.raises(ValueError, match="max_flops"):
        make(max_flops=400, num_generations=1).load_state_dict(state)
    with pytest.raises(ValueError, match="blocks"):
        make(num_blocks=19, max_flops=500).load_state_dict(state)
    longer = make(max_flops=500, num_generations=2)
    longer.load_state_dict(state)
    assert not longer.finished and len(longer.next_generation()) == 50


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(population_size=0), "population_size"),
        (dict(num_mutants=30, num_crossovers=30), "must not exceed"),
        (dict(mutation_prob=1.5), "mutation_prob"),
        (dict(max_flops=-1), "max_flops"),
        (dict(max_flops=100, min_flops=200), "min_flops"),
    ],
)
def test_config_validation(kw, msg):
    with pytest.raises(ValueError, match=msg):
        EvolutionConfig(**kw)


def test_with_the_detnas_flops_of_the_300m_preset():
    import functools

    from maskrcnn_benchmark.nas import count_flops, flops_range, parse_arch

    lo, hi = flops_range("300M")
    assert lo < 300e6 < hi, "the default limit must cut the 300M space"
    ea = EvolutionSearch(20, 4, functools.partial(count_flops, "300M"), EvolutionConfig(num_generations=2))
    run_generation(ea)
    for a in ea.generations()[0] + ea.next_generation():
        assert parse_arch(arch_key(a), "300M") == a and count_flops("300M", a) <= 300e6


def test_initial_population_opens_generation_zero():
    given = ["0" * 20, "1" * 20, "0123" * 5]
    ea = make(max_flops=500, population_size=5, num_mutants=1, num_crossovers=1, initial_population=given)
    gen = [arch_key(a) for a in ea.next_generation()]
    assert gen[:3] == given and len(gen) == 5 == len(set(gen))
    # Only the given ones: a fixed list to evaluate, e.g. by a ranking study.
    fixed = make(
        max_flops=500, population_size=3, num_mutants=1, num_crossovers=1, num_generations=1, initial_population=given
    )
    assert [arch_key(a) for a in fixed.next_generation()] == given
    for a in given:
        fixed.record(a, 0.1)
    assert fixed.finished
    # It survives the checkpoint round trip, and a resume with another list is refused.
    state = json.loads(json.dumps(ea.state_dict()))
    make(max_flops=500, population_size=5, num_mutants=1, num_crossovers=1, initial_population=given).load_state_dict(
        state
    )
    with pytest.raises(ValueError, match="initial_population"):
        make(
            max_flops=500, population_size=5, num_mutants=1, num_crossovers=1, initial_population=given[:2]
        ).load_state_dict(state)


@pytest.mark.parametrize(
    "given, msg",
    [
        (["3" * 20], "outside"),  # 800 toy FLOPs > 500
        (["0" * 19], "is not 20 digits"),
        (["0" * 20, "0" * 20], "repeated"),
    ],
)
def test_initial_population_is_checked(given, msg):
    with pytest.raises(ValueError, match=msg):
        make(max_flops=500, population_size=5, num_mutants=1, num_crossovers=1, initial_population=given)


def test_initial_population_config_key(tmp_path):
    from distributed_arch_search.arch_search_config import SearchConfigError, load_search_config
    from distributed_arch_search.master_settings import evolution_config

    cfg = load_search_config("", ["EVOLUTION.INITIAL_POPULATION", "['00001111222233330000']"])
    assert evolution_config(cfg).initial_population == ("00001111222233330000",)
    path = tmp_path / "search.yaml"
    path.write_text("EVOLUTION:\n  INITIAL_POPULATION: [00001111222233330000]\n")
    with pytest.raises(SearchConfigError, match="quoted digit string"):
        load_search_config(str(path))
