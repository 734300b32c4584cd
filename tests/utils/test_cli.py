"""Flags before, between or after KEY VALUE overrides in every command-line tool."""

import argparse
import importlib.util
import os

import pytest

from maskrcnn_benchmark.config import default_config
from maskrcnn_benchmark.utils.cli import config_key_predicate, parse_args_with_overrides, split_flags_and_overrides

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tool(relpath):
    spec = importlib.util.spec_from_file_location(os.path.basename(relpath)[:-3], os.path.join(REPO, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parser():
    p = argparse.ArgumentParser(prog="t")
    p.add_argument("--config-file", default="")
    p.add_argument("--skip-test", action="store_true")
    p.add_argument("--input", nargs="+")
    p.add_argument("--threshold", type=float, default=0.5)
    return p


def test_split_keeps_values_that_look_like_flags():
    flags, opts = split_flags_and_overrides(
        _parser(),
        ["SEED", "-1", "--skip-test", "SOLVER.BASE_LR", "-0.5", "--threshold", "-2", "OUTPUT_DIR", "--odd-but-a-value"],
    )
    assert flags == ["--skip-test", "--threshold", "-2"]
    assert opts == ["SEED", "-1", "SOLVER.BASE_LR", "-0.5", "OUTPUT_DIR", "--odd-but-a-value"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--config-file", "f.yaml", "--skip-test", "SOLVER.MAX_ITER", "10", "SEED", "3"],
        ["--config-file", "f.yaml", "SOLVER.MAX_ITER", "10", "SEED", "3", "--skip-test"],
        ["SOLVER.MAX_ITER", "10", "--skip-test", "SEED", "3", "--config-file", "f.yaml"],
        ["--config-file=f.yaml", "SOLVER.MAX_ITER", "10", "--skip", "SEED", "3"],  # = and abbreviation
        ["--skip-test", "--config-file", "f.yaml", "--", "SOLVER.MAX_ITER", "10", "SEED", "3"],
    ],
)
def test_flags_in_any_position(argv):
    args = parse_args_with_overrides(_parser(), argv, config_key_predicate(default_config()))
    assert args.config_file == "f.yaml" and args.skip_test is True
    assert args.opts == ["SOLVER.MAX_ITER", "10", "SEED", "3"]


def test_multi_value_flag_stops_at_a_config_key():
    args = parse_args_with_overrides(
        _parser(),
        ["--input", "a.jpg", "IMG.JPG", "MODEL.DEVICE", "cpu", "--threshold", "0.3"],
        config_key_predicate(default_config()),
    )
    assert args.input == ["a.jpg", "IMG.JPG"] and args.threshold == 0.3
    assert args.opts == ["MODEL.DEVICE", "cpu"]


def test_unknown_flag_among_overrides_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as e:
        parse_args_with_overrides(_parser(), ["--config-file", "f", "SEED", "1", "--skip-tst"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --skip-tst" in err and "[KEY VALUE ...]" in err


def test_train_net_flag_after_overrides():
    args = _tool("tools/train_net.py").parse_args(["--config-file", "F", "SOLVER.MAX_ITER", "2", "--skip-test"])
    assert args.skip_test and args.config_file == "F" and args.opts == ["SOLVER.MAX_ITER", "2"]


def test_test_net_flag_after_overrides():
    args = _tool("tools/test_net.py").parse_args(["MODEL.DEVICE", "cpu", "--config-file", "F"])
    assert args.config_file == "F" and args.opts == ["MODEL.DEVICE", "cpu"]


def test_predictor_threshold_after_overrides():
    args = _tool("demo/predictor.py").parse_args(
        [
            "--config-file",
            "F",
            "--input",
            "a.jpg",
            "b.png",
            "MODEL.DEVICE",
            "cpu",
            "--output-dir",
            "o",
            "--threshold",
            "0.2",
        ]
    )
    assert args.input == ["a.jpg", "b.png"] and args.output_dir == "o" and args.threshold == 0.2
    assert args.opts == ["MODEL.DEVICE", "cpu"]


def test_search_flags_after_overrides():
    from distributed_arch_search.search import parse_args

    args = parse_args(
        [
            "EVOLUTION.MAX_FLOPS",
            "330M",
            "--experiment",
            "e",
            "--no-resume",
            "LOCAL.SERVER_ARGS",
            "['--evaluator', 'synthetic']",
        ]
    )
    assert args.experiment == "e" and args.no_resume
    assert args.opts == ["EVOLUTION.MAX_FLOPS", "330M", "LOCAL.SERVER_ARGS", "['--evaluator', 'synthetic']"]
