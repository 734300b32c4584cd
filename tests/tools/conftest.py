import pytest
import torch


@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    """One intra-op thread, as in tests/nas (the CI box has 2 cores shared with other jobs), and the
    thread count restored afterwards: the tools' main() sets its own (--threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
