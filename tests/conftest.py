import random

import pytest


@pytest.fixture
def rng():
    """The one seeded source of randomness for tests."""
    return random.Random(20261127)
