"""Reshaping dense head outputs into per-anchor rows."""


def flatten_head_outputs(per_level, values_per_anchor):
    """[N, A * V, H, W] per level -> [N, H * W * A, V] per level, anchor order (y, x, a) as the
    anchor generator's."""
    out = []
    for t in per_level:
        n, _, h, w = t.shape
        out.append(t.view(n, -1, values_per_anchor, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, values_per_anchor))
    return out
