"""Writing files so that a path always holds either its old or its whole new content, even across a
crash or a power cut: a temporary file in the same folder, flushed and fsynced, renamed over the
target, then the folder fsynced so the rename itself is on disk."""

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_open(path, mode="w", encoding="utf-8"):
    """Open a temporary file beside `path` for writing ("w" or "wb"); a clean exit of the block
    replaces `path` with it, an exception removes it and leaves `path` as it was."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{ext}", dir=folder)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path, text):
    with atomic_open(path) as f:
        f.write(text)


def atomic_write_json(path, obj, **dump_kwargs):
    """json.dump(obj, **dump_kwargs) and a final newline; `path` is untouched if `obj` cannot be
    serialised (e.g. NaN with allow_nan=False)."""
    with atomic_open(path) as f:
        json.dump(obj, f, **dump_kwargs)
        f.write("\n")


def atomic_torch_save(obj, path):
    import torch

    with atomic_open(path, "wb") as f:
        torch.save(obj, f)


def atomic_savefig(fig, path, **savefig_kwargs):
    """Save a matplotlib figure; the format comes from the file extension."""
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format=fmt, **savefig_kwargs)
