"""pytest fixtures for `sharesim serve`: one served world per session, reset before every
test that asks for `sharesim`.

- `sharesim_serve_args` (session): the arguments of `sharesim serve`; override it to start
  other accounts or flags (`["acme", "globex", "--tls"]`).
- `sharesim_served` (session): the running process (`Served`).
- `sharesim_ready` (session): the ready file's data (`Ready`; `.account("acme")`).
- `sharesim` (function): the control API client (`Control`), after `POST /reset`.
"""

import pytest

from . import Served, find_binary


def pytest_addoption(parser):
    group = parser.getgroup("sharesim")
    group.addoption("--sharesim-bin", default=None,
                    help="the sharesim binary (default: $SHARESIM_BIN, else sharesim on PATH)")


@pytest.fixture(scope="session")
def sharesim_serve_args():
    """Arguments of `sharesim serve` (override to change the world)."""
    return ["acme", "globex"]


@pytest.fixture(scope="session")
def sharesim_served(request, sharesim_serve_args):
    """`sharesim serve` for the whole session, stopped at its end."""
    binary = find_binary(request.config.getoption("--sharesim-bin"))
    served = Served.start(binary, sharesim_serve_args)
    yield served
    served.stop()


@pytest.fixture(scope="session")
def sharesim_ready(sharesim_served):
    """The ready file's data: accounts, control URL and token, CA certificate path."""
    return sharesim_served.ready


@pytest.fixture
def sharesim(sharesim_served):
    """The control API client, on a world reset before this test."""
    sharesim_served.control.reset()
    return sharesim_served.control
