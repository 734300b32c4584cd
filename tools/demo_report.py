"""The demo's last stage: summary.json from the raw result files of the search and retrain stages,
the plots, the detections drawing and the printed table (tools/detnas_demo.py calls write_report)."""

import glob
import json
import os
import shutil
import statistics
import sys

import plot_metrics  # tools/, beside this file

from maskrcnn_benchmark.utils.atomic_file import atomic_write_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_report(demo):
    from maskrcnn_benchmark.nas import count_flops

    c = demo.comparison()
    retrained = demo.retrained()
    found, rand = c["best_found"], c["best_random"]
    rows = {"best_found": found["arch"], "best_random": rand["arch"]}
    if demo.args.with_released:
        rows["released"] = demo.RELEASED
    final = {name: dict(arch=arch, flops=count_flops("300M", arch), **retrained[arch]) for name, arch in rows.items()}
    evo0 = _read_json(os.path.join(demo.search_dir, f"evolution_seed{c['seeds'][0]}", "search_results.json"))
    by_generation = {}
    for r in evo0["results"]:
        if r["status"] == "ok":
            by_generation.setdefault(r["generation"], []).append(r["ap"])
    search_vs_random = {k: v for k, v in c.items() if k not in ("curves", "command")}
    search_vs_random["retrained"] = final
    search_vs_random["retrained_best_found_higher"] = final["best_found"]["ap"] > final["best_random"]["ap"]
    search_vs_random["same_architecture"] = found["arch"] == rand["arch"]
    summary = {
        "best_arch": found["arch"],
        "best_flops": count_flops("300M", found["arch"]),
        "best_search_val_ap": found["search_val_ap"],
        "random_best_arch": rand["arch"],
        "random_search_val_ap_best": rand["search_val_ap"],
        "search_val_ap_median_per_generation": [statistics.median(by_generation[g]) for g in sorted(by_generation)],
        "final_minival_ap_best": final["best_found"]["ap"],
        "final_minival_ap_random_best": final["best_random"]["ap"],
        "final_minival_ap_released": final["released"]["ap"] if "released" in final else None,
        "search_vs_random": search_vs_random,
        "transport": "rabbitmq" if demo.args.broker else "local",
        "device": demo.device,
        "seconds_per_stage": demo.times,
    }
    shutil.copy(os.path.join(demo.search_dir, "comparison.png"), os.path.join(demo.out, "search_vs_random.png"))
    shutil.copy(
        os.path.join(demo.search_dir, f"evolution_seed{c['seeds'][0]}", "search_progress.png"),
        os.path.join(demo.out, "search_progress.png"),
    )
    draw_detections(demo, found["arch"])
    # The supernet fine-tuning's loss and lr curves (its metrics.jsonl), to see that it converged.
    plot_metrics.plot(demo.supernet_dir, os.path.join(demo.out, "supernet_curves.png"))
    atomic_write_json(os.path.join(demo.out, "summary.json"), summary, indent=2)
    print_table(summary, demo.out)
    return summary


def trained_model_dir(demo, arch, seed=0):
    """The detection output folder of the standalone training of (arch, seed), wherever the server
    that trained it kept it."""
    hits = sorted(
        glob.glob(os.path.join(demo.out, "**", "standalone", f"{arch}_seed{seed}", "detection"), recursive=True)
    )
    if not hits:
        raise FileNotFoundError(f"no trained model of {arch} seed {seed} under {demo.out}")
    return hits[0]


def draw_detections(demo, arch):
    """Detections of the retrained best found architecture (seed 0) on a few minival images."""
    from PIL import Image

    sys.path.insert(0, os.path.join(REPO, "demo"))
    from predictor import build_predictor

    from maskrcnn_benchmark.config import load_config

    os.environ["DETNAS_DATASETS"] = demo.datasets
    cfg = load_config(
        os.path.join(REPO, demo.RETRAIN_CONFIG),
        ["MODEL.BACKBONE.ARCH", arch, "MODEL.DEVICE", demo.device, "OUTPUT_DIR", trained_model_dir(demo, arch)],
    )
    predictor = build_predictor(cfg)
    with open(os.path.join(demo.datasets, "shapes", "annotations", "minival.json")) as f:
        files = [im["file_name"] for im in json.load(f)["images"][: demo.s["drawn_images"]]]
    tiles = []
    for name in files:
        image = Image.open(os.path.join(demo.datasets, "shapes", "images", name)).convert("RGB")
        tiles.append(predictor.draw(image, predictor.predict(image), threshold=0.5))
    scale = 3  # the images are small; enlarge so boxes and labels can be read
    sheet = Image.new(
        "RGB", (sum(t.width for t in tiles) * scale, max(t.height for t in tiles) * scale), (255, 255, 255)
    )
    x = 0
    for t in tiles:
        sheet.paste(t.resize((t.width * scale, t.height * scale), Image.NEAREST), (x, 0))
        x += t.width * scale
    path = os.path.join(demo.out, "detections_minival.png")
    sheet.save(path)
    print(f"detections of the retrained best found architecture: {path}")


def print_table(summary, out):
    c = summary["search_vs_random"]
    k = c["top_k"]

    def arm(name, key):
        v = c[name][key]
        return f"{v['mean']:.4f} +- {v['sd']:.4f}"

    def final(name):
        r = c["retrained"][name]
        return f"{r['ap']:.3f}  (seeds: {', '.join(f'{a:.3f}' for a in r['ap_per_seed'])})  {r['arch']}"

    test = c["last_quarter_test"]
    rows = [
        (f"runs: {len(c['seeds'])} seeds x {c['evaluations_per_run']} evaluations", "evolution / random"),
        ("search-val best AP", f"{arm('evolution', 'best_ap')} / {arm('random', 'best_ap')}"),
        (f"search-val top-{k} mean AP", f"{arm('evolution', 'top_k_mean_ap')} / {arm('random', 'top_k_mean_ap')}"),
        (
            "search-val last-gen median AP",
            f"{arm('evolution', 'last_generation_median_ap')} / {arm('random', 'last_generation_median_ap')}",
        ),
        (
            "last quarter, Mann-Whitney U",
            f"p = {test['p_value']:.3g} (one-sided, evolution > random; {test['n_a']} vs {test['n_b']} candidates)",
        ),
        ("minival AP, best found, retrained", final("best_found")),
        ("minival AP, best random, retrained", final("best_random")),
    ]
    if "released" in c["retrained"]:
        rows.append(("minival AP, released DetNAS-300M", final("released")))
    rows += [(f"seconds: {name}", f"{v:.0f}") for name, v in summary["seconds_per_stage"].items()]
    width = max(len(name) for name, _ in rows)
    print("\nDetNAS demo results")
    for name, v in rows:
        print(f"  {name:<{width}}  {v}")
    if c["same_architecture"]:
        print("  (the best found and the best random architecture are the same: a tie)")
    print(
        f"\noutputs in {out}: summary.json, search_vs_random.png, search_progress.png, "
        "detections_minival.png, supernet_curves.png, search/, retrain/, logs/"
    )


def _read_json(path):
    with open(path) as f:
        return json.load(f)
