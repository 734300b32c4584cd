"""Environment report for logs and bug reports."""

import platform

import torch


def collect_env_info():
    lines = [
        f"Python {platform.python_version()} on {platform.platform()}",
        f"torch {torch.__version__} (CUDA build {torch.version.cuda}), {torch.get_num_threads()} CPU threads",
    ]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            lines.append(f"GPU {i}: {torch.cuda.get_device_name(i)}")
    else:
        lines.append("no CUDA device")
    try:
        import torchvision

        lines.append(f"torchvision {torchvision.__version__}")
    except ImportError:
        lines.append("torchvision not installed")
    return "\n".join(lines)
