"""What the compose tests share: Docker's presence (a skip here, a failure in CI, where ``.ci/run`` provides
Docker), a state folder per module, the stack's labelled objects, and a ComposeStack started for a module,
stopped after it and checked for leftover containers."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from stack_support import module_state_dir  # noqa: F401  (autouse: a state dir per module)

from aisys_verify.stack.base import StackOptions
from aisys_verify.stack.docker import LABEL_STACK, run_docker

Labelled = dict[str, list[str]]
StartCompose = Callable[[list[str], StackOptions], contextlib.AbstractContextManager[Any]]


def _docker_problem() -> str | None:
    from aisys_verify.stack.compose import ComposeCli, ComposeError
    from aisys_verify.stack.images import docker_usable

    problem = docker_usable()
    if problem is None:
        try:
            ComposeCli.detect()
        except ComposeError as exc:
            problem = str(exc)
    return problem


@pytest.fixture(scope="module", autouse=True)
def docker_available() -> None:
    problem = _docker_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the compose backend, but Docker is not usable: {problem} "
                    "(.ci/run runs scripts/docker-setup and scripts/build-images first)", pytrace=False)
    pytest.skip(f"Docker is not usable here: {problem} (run scripts/docker-setup)")


def _labelled(stack_id: str) -> Labelled:
    selector = f"label={LABEL_STACK}={stack_id}"
    return {"containers": run_docker("ps", "-aq", "--filter", selector).stdout.split(),
            "networks": run_docker("network", "ls", "-q", "--filter", selector).stdout.split(),
            "volumes": run_docker("volume", "ls", "-q", "--filter", selector).stdout.split()}


@pytest.fixture(scope="session")
def labelled() -> Callable[[str], Labelled]:
    """The containers, networks and volumes carrying a stack's label, by kind (ids)."""
    return _labelled


@pytest.fixture(scope="module")
def start_compose(module_state_dir: Path) -> StartCompose:  # noqa: F811  (the fixture)
    """``with start_compose(specs, options) as stack:`` a started ComposeStack (its progress printed when it
    fails to start), stopped at the end, and then no container of it may be left."""

    @contextlib.contextmanager
    def start(specs: list[str], options: StackOptions) -> Iterator[Any]:
        from aisys_verify.stack.compose import ComposeStack

        lines: list[str] = []
        stack = ComposeStack(specs, options=options, progress=lines.append)
        try:
            stack.start()
            yield stack
        except BaseException:
            print("\n".join(lines), file=sys.stderr)
            raise
        finally:
            stack.stop()
            assert _labelled(stack.stack_id)["containers"] == [], f"stack {stack.stack_id} left containers"

    return start
