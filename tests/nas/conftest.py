import pytest
import torch


@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    """The CI box has 2 cores shared with other jobs; OpenMP threads spinning against each other
    make these small convolutions 10x slower than one thread does."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
