"""tools/train_net.py and tools/test_net.py under torchrun with 2 gloo processes on the CPU."""

import json

from e2e_testing import TINY, as_args, run_tool

FASTER = "configs/quick_schedules/e2e_faster_rcnn_R_18_FPN_shapes.yaml"
SUPERNET = "configs/quick_schedules/e2e_faster_rcnn_detnas_fpn_300M_search_shapes.yaml"
TORCHRUN = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def test_two_process_training_and_evaluation(tiny_datasets, tmp_path):
    out = tmp_path / "faster"
    opts = as_args(
        TINY + ["SOLVER.MAX_ITER", 3, "SOLVER.IMS_PER_BATCH", 4, "OUTPUT_DIR", out, "MODEL.RESNETS.NORM", "SyncBN"]
    )
    proc = run_tool(TORCHRUN + ["tools/train_net.py", "--config-file", FASTER, *opts], tiny_datasets)
    log = (out / "train_log.txt").read_text()
    assert "distributed True" in log and "on 2 process(es)" in log
    assert (out / "model_final.pth").exists()
    metrics = json.loads((out / "inference" / "shapes_minival" / "metrics.json").read_text())
    assert set(metrics["bbox"]) >= {"AP", "AP50", "AP75"}
    # the two shards together cover every minival image
    assert "got no prediction" not in log and "evaluating shapes_minival (6 images)" in log
    assert "Traceback" not in proc.stderr


def test_two_process_supernet_fine_tuning_trains_one_path_per_step(tiny_datasets, tmp_path):
    out = tmp_path / "supernet"
    opts = as_args(
        TINY
        + [
            "SOLVER.MAX_ITER",
            3,
            "SOLVER.IMS_PER_BATCH",
            4,
            "OUTPUT_DIR",
            out,
            "MODEL.BACKBONE.NORM",
            "SyncBN",
            "MODEL.FPN.NORM",
            "SyncBN",
            "NAS.BN_RECAL_IMAGES",
            8,
            "NAS.BN_RECAL_BATCH",
            4,
        ]
    )
    run_tool(TORCHRUN + ["tools/train_net.py", "--config-file", SUPERNET, *opts], tiny_datasets)
    log = (out / "train_log.txt").read_text()
    paths = [line.split(" path ")[1].strip() for line in log.splitlines() if " iter " in line and " path " in line]
    assert len(paths) == 3 and all(len(p) == 20 for p in paths)
    assert "recalibrated BN for path 21202112331300313132" in log
    assert (out / "inference" / "shapes_search_val" / "metrics.json").exists()
