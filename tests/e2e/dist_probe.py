"""tools/train_net.py's training under any launcher, then every rank writes what it ended with:
OUTPUT_DIR/probe_rank<R>.pth (weights) and probe_rank<R>.json (paths trained, world size, node).
Used by test_multinode.py: the checkpoint alone is written by rank 0 only."""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))
sys.path.insert(0, REPO)

import torch  # noqa: E402
import train_net  # noqa: E402

from maskrcnn_benchmark.config import load_config  # noqa: E402
from maskrcnn_benchmark.data.num_classes import resolve_num_classes  # noqa: E402
from maskrcnn_benchmark.engine.launch import prepare_run  # noqa: E402
from maskrcnn_benchmark.utils.checkpoint import unwrap_model  # noqa: E402
from maskrcnn_benchmark.utils.comm import get_rank, get_world_size  # noqa: E402
from maskrcnn_benchmark.nas.arch import arch_to_str


def main():
    args = train_net.parse_args()
    cfg = resolve_num_classes(load_config(args.config_file, args.opts))
    device, distributed, logger = prepare_run(cfg, args, "train")
    paths = []
    make_sampler = train_net.make_arch_sampler

    def recording_sampler(cfg_, model):
        sample = make_sampler(cfg_, model)

        def draw(iteration):
            arch = tuple(sample(iteration))
            paths.append(arch_to_str(arch))
            return arch

        return draw

    initial = {}
    build = train_net.build_model_on_device

    def recording_build(cfg_, device_):
        model, is_supernet = build(cfg_, device_)
        initial.update({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        return model, is_supernet

    train_net.make_arch_sampler = recording_sampler
    train_net.build_model_on_device = recording_build
    model = train_net.train(cfg, device, distributed, logger)
    rank = get_rank()
    state = {k: v.detach().cpu() for k, v in unwrap_model(model).state_dict().items()}
    torch.save(state, os.path.join(cfg.OUTPUT_DIR, f"probe_rank{rank}.pth"))
    changed = sum(not torch.equal(v, initial[k]) for k, v in state.items())
    with open(os.path.join(cfg.OUTPUT_DIR, f"probe_rank{rank}.json"), "w") as f:
        json.dump(
            {
                "paths": paths,
                "tensors_changed": changed,
                "world_size": get_world_size(),
                "distributed": distributed,
                "node": os.environ.get("GROUP_RANK"),
            },
            f,
        )


if __name__ == "__main__":
    main()
