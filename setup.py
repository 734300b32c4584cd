"""Build and install maskrcnn_benchmark with its C++/CUDA extension `maskrcnn_benchmark._C`.

    python setup.py build_ext --inplace          # develop in place (what config.sh runs)
    pip install --no-build-isolation -e .         # editable install

CUDA kernels (csrc/cuda/*.cu) are compiled when torch sees a GPU or when FORCE_CUDA=1 (e.g. to build on
a machine without a GPU). TORCH_CUDA_ARCH_LIST selects the GPU architectures ("9.0", "8.0;8.6", ...).
"""

import glob
import os
import sys

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))
CSRC = "csrc"


def _has_cudart(home):
    return bool(home) and any(os.path.exists(os.path.join(home, lib, "libcudart.so")) for lib in ("lib64", "lib"))


def _is_toolkit(home):
    return _has_cudart(home) and os.path.exists(os.path.join(home, "bin", "nvcc"))


def _find_cuda_home(cpp_extension):
    """The CUDA toolkit folder: CUDA_HOME (or CUDA_PATH) when set, which must then be valid; otherwise
    torch's guess, then /usr/local/cuda. Returns (folder or None, description of what was tried)."""
    explicit = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if explicit:
        return (explicit if _is_toolkit(explicit) else None), f"CUDA_HOME={explicit}"
    for home in (cpp_extension.CUDA_HOME, "/usr/local/cuda"):
        if _is_toolkit(home):
            return home, home
    return None, f"torch's default ({cpp_extension.CUDA_HOME}) and /usr/local/cuda"


def _want_cuda(torch):
    # FORCE_CUDA=1: CUDA kernels even without a GPU; FORCE_CUDA=0: CPU only even with one.
    force = os.environ.get("FORCE_CUDA", "")
    return force == "1" or (force != "0" and torch.cuda.is_available())


def get_extensions():
    import torch
    from torch.utils import cpp_extension

    sources = sorted(glob.glob(os.path.join(CSRC, "*.cpp")) + glob.glob(os.path.join(CSRC, "cpu", "*.cpp")))
    extra_compile_args = {"cxx": ["-O3"]}
    define_macros = []
    extension = cpp_extension.CppExtension

    if _want_cuda(torch):
        cuda_home, tried = _find_cuda_home(cpp_extension)
        if cuda_home is None:
            sys.exit(
                "setup.py: a CUDA build was requested (FORCE_CUDA=1 or a visible GPU) but no CUDA toolkit "
                f"with bin/nvcc and lib64/libcudart.so was found (tried {tried}). Set CUDA_HOME to the toolkit "
                "folder (e.g. CUDA_HOME=/usr/local/cuda) or unset FORCE_CUDA for a CPU-only build."
            )
        # cpp_extension reads its module-level CUDA_HOME when it compiles and links the .cu files.
        cpp_extension.CUDA_HOME = cuda_home
        os.environ["CUDA_HOME"] = cuda_home
        extension = cpp_extension.CUDAExtension
        sources += sorted(glob.glob(os.path.join(CSRC, "cuda", "*.cu")))
        define_macros.append(("WITH_CUDA", None))
        extra_compile_args["nvcc"] = [
            "-O3",
            "--expt-relaxed-constexpr",
            # torch's headers define these to keep half/bf16 operators off; our kernels accumulate in float.
            "-D__CUDA_NO_HALF_OPERATORS__",
            "-D__CUDA_NO_HALF_CONVERSIONS__",
            "-D__CUDA_NO_HALF2_OPERATORS__",
        ]
        print(
            f"setup.py: building maskrcnn_benchmark._C with CUDA from {cuda_home} "
            f"(TORCH_CUDA_ARCH_LIST={os.environ.get('TORCH_CUDA_ARCH_LIST', '<torch default>')})"
        )
    else:
        print("setup.py: building maskrcnn_benchmark._C for CPU only (set FORCE_CUDA=1 to add CUDA kernels)")

    return [
        extension(
            "maskrcnn_benchmark._C",
            sources,
            include_dirs=[os.path.join(ROOT, CSRC)],
            define_macros=define_macros,
            extra_compile_args=extra_compile_args,
        )
    ]


def _cmdclass():
    from torch.utils.cpp_extension import BuildExtension

    return {"build_ext": BuildExtension.with_options(no_python_abi_suffix=False)}


setup(
    name="maskrcnn_benchmark",
    version="0.1.0",
    description="DetNAS and maskrcnn-benchmark re-implemented for PyTorch 2.x (CPU and CUDA)",
    packages=find_packages(
        exclude=(
            "configs",
            "tests",
            "tests.*",
            "tools",
            "scripts",
            "datasets",
            "demo",
            "ImageNet-Pretrain-models",
            "build",
        )
    ),
    python_requires=">=3.9",
    ext_modules=get_extensions(),
    cmdclass=_cmdclass(),
)
