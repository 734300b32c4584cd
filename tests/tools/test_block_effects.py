"""tools/block_effects.py on hand-made study folders: its taus are scipy's on the stage shares, the
picks' block counts are counted by hand, and bad folders are refused with their name."""

import json
import os

import pytest
from scipy import stats
from tool_loading import load_tool

ARCHS = {  # 20 blocks: stages of 4, 4, 8, 4
    "00000000000000000000": 0.50,  # uniform: left out with --skip-uniform
    "33001111222233330000": 0.40,
    "30001111222233330000": 0.35,
    "11001111222233330000": 0.20,
    "22221111222233330000": 0.10,
}


def _write(folder, summary):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "search_results.json"), "w") as f:
        json.dump(summary, f)


def _standalone(folder, aps):
    results = [
        {"arch": a, "status": "ok", "ap": ap, "metrics": {"ap": ap, "ap_seed0": ap - 0.01, "ap_seed1": ap + 0.01}}
        for a, ap in aps.items()
    ]
    _write(folder, {"finished": True, "results": results})


def _run(folder, scores):
    results = [{"arch": a, "status": "ok", "ap": s, "metrics": {"ap": s}} for a, s in scores.items()]
    best = max(results, key=lambda r: r["ap"])
    _write(folder, {"finished": True, "results": results, "best": {"arch": best["arch"], "ap": best["ap"]}})


def test_taus_and_pick_counts(tmp_path, capsys):
    tool = load_tool("block_effects")
    _standalone(tmp_path / "a" / "retrain", dict(list(ARCHS.items())[:3]))
    _standalone(tmp_path / "b" / "standalone", dict(list(ARCHS.items())[2:]))  # one shared architecture
    study = tmp_path / "study"
    _run(study / "evolution_seed0", {"33001111222233330000": 0.12, "11001111222233330000": 0.10})
    _run(study / "random_seed0", {"22221111222233330000": 0.11, "11001111222233330000": 0.10})
    out = tmp_path / "effects.json"
    code = tool.main(
        [
            "--retrained",
            str(tmp_path / "a" / "retrain"),
            str(tmp_path / "b" / "standalone"),
            "--studies",
            str(study),
            "--skip-uniform",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    r = json.loads(out.read_text())
    kept = sorted(a for a in ARCHS if len(set(a)) > 1)
    assert sorted(r["retrained"]["archs"]) == kept
    # stage 1, Xception: shares 2/4, 1/4, 0, 0 against APs 0.40, 0.35, 0.20, 0.10
    share = [a[:4].count("3") / 4 for a in kept]
    want = stats.kendalltau(share, [ARCHS[a] for a in kept])
    got = r["retrained"]["tau"][0][3]
    assert got["tau"] == pytest.approx(want.statistic) and got["p_value"] == pytest.approx(want.pvalue)
    assert r["retrained"]["tau"][3][1]["tau"] is None  # stage 4 holds no 5x5 anywhere: no tau
    s = r["studies"][0]
    assert s["num_scored"] == 3 and s["picks"] == {
        "evolution": ["33001111222233330000"],
        "random": ["22221111222233330000"],
    }
    assert s["mean_blocks_in_picks"]["evolution"][0] == [2, 0, 0, 2]  # stage 1 of 3300
    assert s["mean_blocks_in_picks"]["random"][0] == [0, 0, 4, 0]
    archs = sorted(["33001111222233330000", "11001111222233330000", "22221111222233330000"])
    scores = {"33001111222233330000": 0.12, "11001111222233330000": 0.10, "22221111222233330000": 0.11}
    want = stats.kendalltau([a[:4].count("2") / 4 for a in archs], [scores[a] for a in archs])
    assert s["supernet_score_tau"][0][2]["tau"] == pytest.approx(want.statistic)
    printed = capsys.readouterr().out
    assert "(4 retrained)" in printed and "2.0/0.0" in printed


def test_refuses_folders_that_disagree_or_are_missing(tmp_path, capsys):
    tool = load_tool("block_effects")
    _standalone(tmp_path / "a", ARCHS)
    _standalone(tmp_path / "b", {"33001111222233330000": 0.99})
    assert tool.main(["--retrained", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert "33001111222233330000 retrained to 0.99" in capsys.readouterr().err
    assert tool.main(["--retrained", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no search_results.json" in capsys.readouterr().err
    _run(tmp_path / "search", {"33001111222233330000": 0.1})
    assert tool.main(["--retrained", str(tmp_path / "search")]) == 2
    assert "no per-seed AP; not a stand-alone step" in capsys.readouterr().err
