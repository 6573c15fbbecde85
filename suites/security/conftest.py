"""Fixtures of the security suite: stand-ins with TLS on their HTTP side, minted for this run.

Which hosts/agents serve HTTPS and with which client authentication: ``AISYS_TLS_CLIENT_AUTH``
(``pc2=required`` unless set; ``host/Agent=optional`` overrides one agent), parsed by
aisys_verify.security.stand. The PKI and the TLS plan live in pytest's temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from aisys_verify import labels
from aisys_verify.security import (
    DEFAULT_SELECTION,
    SELECTION_ENV,
    Secret,
    TlsStand,
    canary,
    parse_selection,
    tls_standins,
    write_secret_file,
)


@pytest.fixture(autouse=True)
def _security_labels() -> None:
    labels(suite="security")


@pytest.fixture(scope="session")
def run_canary() -> Secret:
    """This run's canary secret: random, so finding it anywhere proves a leak."""
    return canary("redis_password")


@pytest.fixture(scope="session")
def tls_stand(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              run_canary: Secret) -> Iterator[TlsStand]:
    """The selected hosts' stand-ins, up, with HTTPS where the selection says, and the run's canary given
    to them the right way: a ``*_FILE`` path in the stack's secrets folder."""
    selection = parse_selection(os.environ.get(SELECTION_ENV, DEFAULT_SELECTION))
    spec = [str(request.config.rootpath / p) for p in request.config.getini("aisys_spec")]
    workdir = tmp_path_factory.mktemp("security")
    secret_file = write_secret_file(run_canary, workdir / "secrets" / "canary")
    with tls_standins(spec, workdir, selection, environ={"REDIS_PASSWORD_FILE": str(secret_file)}) as stand:
        yield stand
