import re

from tool_loading import load_tool


def test_prints_both_timings_their_ratio_and_agreeing_means(capsys):
    tool = load_tool("benchmark_bn_recal")
    tool.main(["--batches", "2", "--batch-size", "2", "--min-size", "64", "--max-size", "64", "--rounds", "1"])
    out = capsys.readouterr().out
    ours = float(re.search(r"ours .* ([\d.]+) s", out).group(1))
    peer = float(re.search(r"peer .* ([\d.]+) s", out).group(1))
    ratio = float(re.search(r"ratio ours / peer\s+([\d.]+)", out).group(1))
    assert ours > 0 and peer > 0 and abs(ratio - ours / peer) < 0.01 + 0.01 * ratio
    # Equal batches: the exact mean and the cumulative average of batch means are the same numbers.
    assert float(re.search(r"running_mean ours - peer\|\s+(\S+)", out).group(1)) < 1e-4
