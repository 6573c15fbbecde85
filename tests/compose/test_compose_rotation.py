"""The Redis password rotation (security.rotation) on the compose backend: the project's spec as containers,
every host's Redis requiring this run's redis_password (stack/compose_secrets.py); rotated group by group (the
groups' connections closed, each re-reads the bind-mounted secret file) the dialogue answers throughout and the
old password is refused; all at once (every container restarted) the dialogue turns fail and check_rotation says
so. Exhaustive (the whole spec stood up: minutes on a busy 2-core machine, over CI's budget): --exhaustive runs it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from aisys_verify.errors import SecurityFailure
from aisys_verify.security import canary
from aisys_verify.security.rotation import check_rotation, compose_rotation, rotate
from aisys_verify.stack.base import StackOptions

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.exhaustive]

SYSTEM_SPEC = Path(__file__).resolve().parents[2] / "system"
StartCompose = Callable[[list[str], StackOptions], AbstractContextManager[Any]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, start_compose: StartCompose) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AISYS_SECRETS_DIR", raising=False)
        patch.delenv("SECURE_ZMQ", raising=False)
        with start_compose([str(SYSTEM_SPEC)], StackOptions(health_timeout=300.0,
                                                            workdir=tmp_path_factory.mktemp("compose-rotation"))) as s:
            yield s


def test_rolling_rotation_keeps_the_dialogue_answering_then_all_at_once_does_not(stack: Any) -> None:
    stand = compose_rotation(stack)
    first = canary("redis_password")
    report = rotate(stand.cluster, stand.secret_file, stand.password, first, stand.gateway_url, strategy="rolling",
                    group_timeout=60.0)
    print(check_rotation(report))
    assert report.groups == 18
    second = canary("redis_password")
    mutated = rotate(stand.cluster, stand.secret_file, first, second, stand.gateway_url, strategy="all_at_once",
                     group_timeout=60.0)
    with pytest.raises(SecurityFailure, match=r"dialogue turn\(s\) not answered during the roll"):
        check_rotation(mutated)
    print(mutated.shown())
