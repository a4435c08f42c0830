import random

import pytest

from generated_module import BACKENDS, load_backend


@pytest.fixture
def rng():
    """The one seeded source of randomness for tests."""
    return random.Random(20261127)


from hypothesis import settings  # noqa: E402

# Property tests draw the same examples on every run (derived from each test's name), so CI
# cannot pass or fail by luck; widen max_examples locally to search further.
settings.register_profile("derive", derandomize=True, database=None)
settings.load_profile("derive")


@pytest.fixture(scope="module", params=BACKENDS)
def g(request):
    """A generated module: the NumPy one, then the numba one (skipped with a message without numba)."""
    return load_backend(request.param)
