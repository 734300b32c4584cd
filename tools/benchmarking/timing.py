"""Alternating wall and CPU timers: the measured functions take turns so that noise from other
processes on a shared machine hits all of them alike."""

import statistics
import time

import torch


def sync(device):
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(fn, device=None):
    """(wall seconds, process CPU seconds) of `fn()`; with a CUDA `device`, synchronised before
    and after so that the kernels `fn` queued are counted."""
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def time_alternating(fns, warmup, repeats, device=None, reverse=True):
    """{name: {"wall": [...], "cpu": [...]}} of the zero-argument callables `fns` ({name: fn}):
    `warmup` untimed rounds, then `repeats` timed rounds, each calling every fn once. With
    `reverse` the order is reversed every other round, so that neither always runs first."""
    times = {name: {"wall": [], "cpu": []} for name in fns}
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    for r in range(repeats):
        order = list(fns) if not reverse or r % 2 == 0 else list(fns)[::-1]
        for name in order:
            wall, cpu = measure(fns[name], device)
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
    return times


def medians(times, clock="wall"):
    """{name: median} of one clock of a `time_alternating` result."""
    return {name: statistics.median(t[clock]) for name, t in times.items()}
