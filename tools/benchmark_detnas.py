"""DetNAS backbone numbers: the FLOPs table of every preset, and the cost of training through the
supernet compared with the fixed body of the same path.

    python tools/benchmark_detnas.py                     # FLOPs table + 300M timing on CPU
    python tools/benchmark_detnas.py --device cuda --sizes 300M 1.3G 3.8G --batch 32
    python tools/benchmark_detnas.py --flops-only

Timing: forward + backward (train mode, SGD-style zero_grad(set_to_none=True)) of the supernet on
one path and of the fixed body loaded with that path's weights, alternated iteration by iteration so
that machine noise hits both alike; the medians and their ratio (target: supernet <= 1.1x fixed)
are reported.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from maskrcnn_benchmark.modeling.backbone.detnas import DetNASBody, DetNASSupernet  # noqa: E402
from maskrcnn_benchmark.nas import (  # noqa: E402
    RELEASED_ARCHS,
    SIZES,
    arch_to_str,
    count_flops,
    extract_subnet,
    flops_range,
    parse_arch,
)


def flops_table(input_size=224):
    rows = []
    for size in SIZES:
        lo, hi = flops_range(size, input_size)
        released = {name: count_flops(size, arch, input_size)
                    for name, (s, arch) in RELEASED_ARCHS.items() if s == size}
        rows.append({"size": size, "min": lo, "max": hi, "released": released})
    return rows


def print_flops_table(rows, input_size):
    print(f"\nBody FLOPs (conv multiply-adds, {input_size}x{input_size} input)")
    print("| size | released architecture | FLOPs | search-space min | search-space max |")
    print("|---|---|---|---|---|")
    for r in rows:
        for name, flops in r["released"].items():
            print(f"| {r['size']} | {name} | {flops / 1e6:.1f}M | {r['min'] / 1e6:.1f}M | "
                  f"{r['max'] / 1e6:.1f}M |")


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step(model, x, arch=None):
    model.zero_grad(set_to_none=True)
    outs = model(x, arch) if arch is not None else model(x)
    sum(o.float().mean() for o in outs).backward()


def time_supernet_vs_fixed(size, arch, batch, input_size, iters, warmup, device):
    torch.manual_seed(0)
    supernet = DetNASSupernet(size).to(device).train()
    fixed = DetNASBody(size, arch).to(device).train()
    fixed.load_state_dict(extract_subnet(supernet.state_dict(), fixed.arch), strict=True)
    x = torch.randn(batch, 3, input_size, input_size, device=device)
    for _ in range(warmup):
        _step(fixed, x)
        _step(supernet, x, fixed.arch)
    _sync(device)
    t_fixed, t_super = [], []
    for _ in range(iters):
        for model, arch, out in ((fixed, None, t_fixed), (supernet, fixed.arch, t_super)):
            start = time.perf_counter()
            _step(model, x, arch)
            _sync(device)
            out.append(time.perf_counter() - start)
    fixed_s, super_s = statistics.median(t_fixed), statistics.median(t_super)
    return {"size": size, "arch": arch_to_str(fixed.arch), "batch": batch,
            "input_size": input_size, "device": str(device), "fixed_s": fixed_s,
            "supernet_s": super_s, "ratio": super_s / fixed_s,
            # on a shared machine the fastest run is the least disturbed one
            "ratio_of_min": min(t_super) / min(t_fixed),
            "fixed_all": t_fixed, "supernet_all": t_super}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--sizes", nargs="+", default=["300M"], choices=list(SIZES))
    p.add_argument("--arch", default="", help="path to time (default: the size's first released "
                   "architecture)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--flops-only", action="store_true")
    p.add_argument("--json", default="", help="also write the results here")
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    results = {"flops": flops_table(224)}
    print_flops_table(results["flops"], 224)
    if not args.flops_only:
        device = torch.device(args.device)
        results["timing"] = []
        print(f"\nForward + backward, batch {args.batch}x3x{args.input_size}x{args.input_size} on "
              f"{device} ({torch.get_num_threads()} threads), median of {args.iters}")
        print("| size | path | fixed body | supernet on the path | ratio (median) | ratio (min) |")
        print("|---|---|---|---|---|---|")
        for size in args.sizes:
            default = next(a for s, a in RELEASED_ARCHS.values() if s == size)
            arch = parse_arch(args.arch, size) if args.arch else default
            r = time_supernet_vs_fixed(size, arch, args.batch, args.input_size, args.iters,
                                       args.warmup, device)
            results["timing"].append(r)
            print(f"| {size} | {r['arch']} | {r['fixed_s'] * 1e3:.1f} ms | "
                  f"{r['supernet_s'] * 1e3:.1f} ms | {r['ratio']:.3f} | {r['ratio_of_min']:.3f} |",
                  flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return results


if __name__ == "__main__":
    main()
