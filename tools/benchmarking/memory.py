"""Peak memory of one step above the memory in use before it: resident set size on CPU, the caching
allocator's counters on CUDA."""

import gc
import re
import resource

import torch

MIB = 1024 * 1024


def _proc_status_kib(field):
    with open("/proc/self/status") as fh:
        match = re.search(rf"^{field}:\s+(\d+)\s+kB", fh.read(), re.M)
    return int(match.group(1)) if match else None


def _reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def cpu_peak_memory(step):
    """(bytes, method): peak resident memory of `step()` above the resident memory before it."""
    gc.collect()
    if _proc_status_kib("VmHWM") is not None and _reset_peak_rss():
        before = _proc_status_kib("VmRSS")
        step()
        return (_proc_status_kib("VmHWM") - before) * 1024, "VmHWM - VmRSS"
    # ru_maxrss never goes down: this is the peak above the high-water mark so far
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024, "ru_maxrss delta"


def cuda_peak_memory(step, device):
    """(bytes, method): peak allocated memory of `step()` above the allocated memory before it."""
    gc.collect()
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    step()
    return torch.cuda.max_memory_allocated(device) - before, "max_memory_allocated delta"
