"""SOLVER.AMP: "on", "off" or "auto", and what it means on the device at hand.

bfloat16 autocast on a CPU pays off only with native bf16 instructions (AVX512-BF16 or AMX); without
them oneDNN emulates bf16 and a step gets many times slower. "auto" therefore enables AMP on CUDA
(float16) and on such CPUs only.
"""

import logging

import torch

AMP_SETTINGS = ("on", "off", "auto")
_SPELLINGS = {True: "on", False: "off", "true": "on", "false": "off", "on": "on", "off": "off", "auto": "auto"}
# Measured with the R-18 Faster R-CNN quick config on a CPU without native bf16 (issue 13).
SLOW_CPU_HINT = "24.7 s/iter with SOLVER.AMP True against 2.2 s/iter without it"
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")

logger = logging.getLogger(__name__)


def normalize_amp(value, where="SOLVER.AMP"):
    """The canonical setting ("on", "off", "auto") of a yaml/command-line value."""
    key = value.lower() if isinstance(value, str) else value
    if isinstance(key, bool) or isinstance(key, str):
        if key in _SPELLINGS:
            return _SPELLINGS[key]
    raise ValueError(f"{where} must be True, False or auto, got {value!r}")


def _cpuinfo_flags(path="/proc/cpuinfo"):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_native_bf16(flags=None):
    """True when the CPU executes bfloat16 natively (cpuinfo flags avx512_bf16 or amx_bf16, or a
    torch CPU capability naming AMX)."""
    flags = _cpuinfo_flags() if flags is None else set(flags)
    if any(f in flags for f in _BF16_FLAGS):
        return True
    return "AMX" in str(torch.backends.cpu.get_cpu_capability()).upper()


def resolve_amp(setting, device, logger_=None, native_bf16=None):
    """Whether to run under autocast on `device` for the SOLVER.AMP `setting`.

    An explicit "on" on a CPU without native bf16 is honoured, with a warning of its cost.
    `native_bf16` overrides the CPU probe (tests).
    """
    setting = normalize_amp(setting)
    if setting == "off":
        return False
    if torch.device(device).type == "cuda":
        return True
    native = cpu_has_native_bf16() if native_bf16 is None else native_bf16
    if setting == "auto":
        return native
    if not native:
        (logger_ or logger).warning(
            "SOLVER.AMP True on a CPU without native bfloat16 (no AVX512-BF16/AMX): bf16 is "
            "emulated and training is much slower (measured %s); set SOLVER.AMP auto or False",
            SLOW_CPU_HINT,
        )
    return True


def autocast_context(device, enabled):
    """float16 autocast on CUDA, bfloat16 on CPU (float16 matmuls are slow there)."""
    device = torch.device(device)
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype, enabled=enabled)


def make_grad_scaler(device, amp):
    # Loss scaling only matters for float16; bfloat16 has float32's range.
    return torch.amp.GradScaler("cuda", enabled=amp and torch.device(device).type == "cuda")
