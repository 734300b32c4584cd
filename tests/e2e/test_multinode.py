"""scripts/launch.sh across two "nodes" (one gloo process each, on loopback) trains exactly what a
one-node run with two processes trains: the same supernet path per step, the same final weights."""

import json
import os
import socket
import subprocess

import pytest
import torch

from e2e_testing import ROOT, TINY, as_args

SUPERNET = "configs/quick_schedules/e2e_faster_rcnn_detnas_fpn_300M_search_shapes.yaml"
OPTS = TINY + [
    "SOLVER.MAX_ITER",
    3,
    "SOLVER.IMS_PER_BATCH",
    4,
    "MODEL.BACKBONE.NORM",
    "SyncBN",
    "MODEL.FPN.NORM",
    "SyncBN",
    "SOLVER.CHECKPOINT_PERIOD",
    0,
]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(out, datasets, **dist_env):
    env = dict(
        os.environ,
        DETNAS_DATASETS=datasets,
        OMP_NUM_THREADS="1",
        NGPUS="0",
        PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
        **{k: str(v) for k, v in dist_env.items()},
    )
    return subprocess.Popen(
        ["bash", "scripts/launch.sh", "tests/e2e/dist_probe.py", SUPERNET, str(out), *as_args(OPTS)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(procs, timeout=400):
    for p in procs:
        output, _ = p.communicate(timeout=timeout)
        assert p.returncode == 0, output[-4000:]
        yield output


def _probes(out):
    ranks = {}
    for r in (0, 1):
        ranks[r] = (
            json.loads((out / f"probe_rank{r}.json").read_text()),
            torch.load(out / f"probe_rank{r}.pth", weights_only=True),
        )
    return ranks


@pytest.mark.slow
def test_two_nodes_train_like_one_node_with_two_processes(tiny_datasets, tmp_path):
    port = _free_port()
    two_nodes = tmp_path / "two_nodes"
    nodes = [
        _launch(
            two_nodes,
            tiny_datasets,
            NNODES=2,
            NODE_RANK=i,
            NPROC_PER_NODE=1,
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
            RDZV_ID=f"t{port}",
        )
        for i in (0, 1)
    ]
    outputs = list(_finish(nodes))
    assert all("launch: 2 node(s) x 1 process(es) on cpu" in o for o in outputs)
    one_node = tmp_path / "one_node"
    list(_finish([_launch(one_node, tiny_datasets, NPROC_PER_NODE=2)]))

    a, b = _probes(two_nodes), _probes(one_node)
    assert {a[0][0]["node"], a[1][0]["node"]} == {"0", "1"}  # one rank on each node
    assert all(info["world_size"] == 2 and info["distributed"] for info, _ in [*a.values(), *b.values()])
    paths = a[0][0]["paths"]
    assert len(paths) == 3 and all(len(p) == 20 for p in paths)
    assert a[1][0]["paths"] == paths == b[0][0]["paths"] == b[1][0]["paths"]
    reference = b[0][1]
    for weights in (a[0][1], a[1][1], b[1][1]):
        assert weights.keys() == reference.keys()
        assert all(torch.equal(weights[k], reference[k]) for k in reference), [
            k for k in reference if not torch.equal(weights[k], reference[k])
        ][:5]
    assert a[0][0]["tensors_changed"] > 100  # training moved the weights at all
    assert (two_nodes / "model_final.pth").exists()
