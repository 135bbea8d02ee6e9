import pytest

from .helpers import start_serving


@pytest.fixture
def served(home):
    served = start_serving(home)
    yield served
    served.stop()
