"""Smoke check of the built extension maskrcnn_benchmark._C: the ops load, compute, and reject a bad
input with a Python error rather than a crash.

    python tools/check_extension.py

A C++ error message that prints a shape or a number goes through libstdc++'s stream formatting
inline in our library; when the extension was compiled by a toolchain whose libstdc++ headers do not
match the libstdc++ that Python and torch load at run time (seen with a GCC under /opt/gcc, made the
default through CC/CXX, on a GPU image), that formatting segfaults. The check runs in a child process
so that such a crash is reported with its cause instead of killing the caller.
"""

import os
import signal
import subprocess
import sys

PROBE = r"""
import torch
import maskrcnn_benchmark.layers as L
boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
keep = L.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5)
assert keep.tolist() == [0, 2], keep.tolist()
try:
    L.nms(torch.zeros(3, 5), torch.zeros(3), 0.5)
except RuntimeError as error:
    assert "got shape [3, 5]" in str(error), str(error)
else:
    raise SystemExit("nms accepted [3, 5] boxes")
cuda = "with CUDA kernels" if torch.ops.maskrcnn_benchmark.nms.default.has_kernel_for_dispatch_key("CUDA") else "CPU only"
print(f"maskrcnn_benchmark._C: ops load, compute and raise clear errors ({cuda})")
"""


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=root)
    if result.returncode == 0:
        return 0
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        print(
            f"check_extension: the probe died of {name} while raising an error from maskrcnn_benchmark._C.\n"
            "The extension was most likely compiled by a C++ compiler whose libstdc++ does not match the one\n"
            "loaded at run time (CC/CXX pointing at another toolchain). Rebuild with the system compiler:\n"
            "  rm -rf build maskrcnn_benchmark/_C*.so && CC=/usr/bin/gcc CXX=/usr/bin/g++ "
            "python3 setup.py build_ext --inplace",
            file=sys.stderr,
        )
    else:
        print(f"check_extension: the probe failed (exit {result.returncode}); see above", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
