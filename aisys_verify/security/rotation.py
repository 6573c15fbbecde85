"""Rotating the Redis password of running stand-ins while the dialogue path keeps answering.

The stand-ins read their Redis password from ``REDIS_PASSWORD_FILE`` at each new connection
(standin.group.FileCredentials) and name their connections ``host/group``. A rotation, on every host's Redis:

1. add the new password to the ``default`` user (``ACL SETUSER default >new``): both are accepted;
2. write the new password into the secret file;
3. roll the agents group by group: close one group's Redis connections (``CLIENT KILL ID``), wait until the
   group has connected again (with the file's, the new, password), then the next group;
4. revoke the old password (``ACL SETUSER default <old``): a client presenting it is refused afterwards.

Meanwhile a thread sends dialogue turns to the gateway and counts the ones not answered: the roll must
cost none. ``strategy="all_at_once"`` restarts every group at once instead of step 3 (the mutation: the
dialogue path is down while they start, and the count shows it).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aisys_verify.errors import InvalidValue, SecurityFailure

if TYPE_CHECKING:
    from aisys_verify.security.secrets import Secret
    from aisys_verify.standin.cluster import LocalCluster

STRATEGIES = ("rolling", "all_at_once")
ROLL_ROUND_S = 0.25


@dataclass
class DialogueCounter:
    """Dialogue turns sent to ``url`` (``POST /dialogue/process``) every ``interval_s`` on a thread."""

    url: str
    interval_s: float = 0.05
    sent: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _turn(self, i: int) -> None:
        from aisys_verify.httpjson import http_json

        try:
            reply = http_json("POST", self.url, {"text": f"rotation turn {i}", "session_id": "rotation"}, timeout=5.0)
            if reply.status != 200:
                self.errors.append(f"turn {i}: HTTP {reply.status}")
        except OSError as exc:
            self.errors.append(f"turn {i}: {type(exc).__name__}: {exc}")
        self.sent += 1

    @contextlib.contextmanager
    def running(self) -> Iterator[DialogueCounter]:
        def loop() -> None:
            i = 0
            while not self._stop.is_set():
                self._turn(i)
                i += 1
                self._stop.wait(self.interval_s)

        thread = threading.Thread(target=loop, name="dialogue-counter", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(10)


@dataclass(frozen=True)
class RotationReport:
    strategy: str
    groups: int
    seconds: float
    dialogue_turns: int
    dialogue_errors: tuple[str, ...]
    old_refused: bool
    new_accepted: bool

    def shown(self) -> str:
        return (f"rotation ({self.strategy}, {self.groups} groups, {self.seconds:.1f} s): {self.dialogue_turns} "
                f"dialogue turns, {len(self.dialogue_errors)} not answered; old password "
                f"{'refused' if self.old_refused else 'STILL ACCEPTED'}, "
                f"new {'accepted' if self.new_accepted else 'REFUSED'}")


def _admin(address: str, port: int, password: str, tls: Mapping[str, Any] | None = None) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # no retry: a refused password (an AuthenticationError is a ConnectionError to redis-py) is the answer
    return redis.Redis(host=address, port=port, username="default", password=password, socket_timeout=2.0,
                       client_name="aisys-verify-rotation", retry=Retry(NoBackoff(), 0), **(tls or {}))


def accepts(address: str, port: int, password: str, tls: Mapping[str, Any] | None = None) -> bool:
    """Whether this Redis lets a new client in with ``password`` (``AUTH default password``); ``tls``: redis-py's
    TLS arguments for a TLS Redis (security.redis_tls.admin_tls)."""
    import redis

    client = _admin(address, port, password, tls)
    try:
        return bool(client.ping())
    except redis.AuthenticationError:
        return False
    finally:
        client.close()


def set_first_password(cluster: LocalCluster, password: str) -> None:
    """Each host's Redis requires ``password`` from now on (``resetpass``: no other, and no more nopass)."""
    for address, port in (cluster.plan.redis[h] for h in cluster.hosts()):
        client = _admin(address, port, password)  # nopass until now: any password is let in
        try:
            client.execute_command("ACL", "SETUSER", "default", "on", "resetpass", f">{password}")
        finally:
            client.close()


def _group_connections(admin: Any, name: str) -> list[int]:
    return [int(c["id"]) for c in admin.client_list() if c.get("name") == name]


def _roll_group(cluster: LocalCluster | ComposeRoll, admins: dict[str, Any], host: str, group: str,
                timeout: float) -> None:
    """Close the group's connections to its host's Redis, then wait until it has connected again."""
    name = f"{host}/{group}"
    admin = admins[host]
    for conn_id in _group_connections(admin, name):
        with contextlib.suppress(Exception):  # a connection that closed meanwhile
            admin.execute_command("CLIENT", "KILL", "ID", str(conn_id))
    deadline = time.monotonic() + timeout
    while not _group_connections(admin, name):
        if time.monotonic() > deadline:
            raise SecurityFailure(f"group {name} did not connect to Redis again within {timeout:g} s after its "
                                  "connections were closed: does it read the new password from REDIS_PASSWORD_FILE?",
                                  where=name, case="rotation", observed="no connection")
        time.sleep(0.05)


def rotate(cluster: LocalCluster | ComposeRoll, secret_file: Path, old_secret: Secret, new_secret: Secret,
           gateway_url: str, *, strategy: str = "rolling", group_timeout: float = 20.0, settle_s: float = 0.5,
           tls: Mapping[str, Any] | None = None) -> RotationReport:
    """Rotate every host's Redis password from ``old`` to ``new`` (see the module's steps) under dialogue load;
    ``tls``: redis-py's TLS arguments when the hosts' Redis serve TLS (security.redis_tls.admin_tls)."""
    if strategy not in STRATEGIES:
        raise InvalidValue(f"rotation strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    old, new = old_secret.reveal(), new_secret.reveal()
    redis_of = {h: cluster.plan.redis[h] for h in cluster.hosts()}
    admins = {h: _admin(a, p, old, tls) for h, (a, p) in redis_of.items()}
    groups: Sequence[tuple[str, str]] = list(cluster.groups)
    began = time.monotonic()
    counter = DialogueCounter(gateway_url)
    try:
        with counter.running():
            time.sleep(settle_s)  # turns answered before the rotation: the path works at all
            for admin in admins.values():
                admin.execute_command("ACL", "SETUSER", "default", f">{new}")
            secret_file.write_text(new, encoding="utf-8")
            if strategy == "rolling":
                for host, group in groups:
                    _roll_group(cluster, admins, host, group, group_timeout)
            else:
                for host, group in groups:
                    cluster.kill_group(host, group)
                for host, group in groups:
                    cluster.start_group(host, group)
                cluster.wait_ready(list(groups), group_timeout)
            for admin in admins.values():
                admin.execute_command("ACL", "SETUSER", "default", f"<{old}")
            time.sleep(settle_s)
    finally:
        for admin in admins.values():
            admin.close()
    old_refused = all(not accepts(a, p, old, tls) for a, p in redis_of.values())
    new_accepted = all(accepts(a, p, new, tls) for a, p in redis_of.values())
    return RotationReport(strategy, len(groups), time.monotonic() - began, counter.sent, tuple(counter.errors),
                          old_refused, new_accepted)


def check_rotation(report: RotationReport) -> str:
    """The report as one line when the rotation cost no dialogue turn and the old password is refused."""
    __tracebackhide__ = True
    if report.dialogue_turns == 0:
        raise SecurityFailure(f"{report.shown()}: no dialogue turn was sent, so the count proves nothing",
                              where="dialogue", case="rotation", observed="0 turns")
    problems = []
    if report.dialogue_errors:
        problems.append(f"{len(report.dialogue_errors)} dialogue turn(s) not answered during the roll "
                        f"(first: {report.dialogue_errors[0]}): the groups must keep serving while they re-connect")
    if not report.old_refused:
        problems.append("the old password is still accepted after its revocation")
    if not report.new_accepted:
        problems.append("the new password is refused")
    if problems:
        raise SecurityFailure(f"{report.shown()}: " + "; ".join(problems), where="redis", case="rotation",
                              observed=json.dumps({"errors": len(report.dialogue_errors)}))
    return report.shown()


@dataclass(frozen=True)
class RotationStand:
    cluster: LocalCluster | ComposeRoll
    secret_file: Path
    password: Secret  # the current one (given at start)
    gateway_url: str  # POST /dialogue/process


@contextlib.contextmanager
def rotation_standins(spec: Sequence[str], workdir: Path, password: Secret,
                      spec_vars: dict[str, str] | None = None, start_timeout: float = 60.0) -> Iterator[RotationStand]:
    """Every host's groups as stand-ins whose Redis requires ``password`` (given as ``REDIS_PASSWORD_FILE``)."""
    from aisys_verify.plan.roles import role_for
    from aisys_verify.security.secrets import write_secret_file
    from aisys_verify.standin.cluster import LocalCluster

    cluster = LocalCluster(list(spec), workdir, spec_vars=dict(spec_vars or {}))
    # an agent re-connects at its next Redis command, its readiness round: shorter rounds, a shorter roll
    cluster.plan.health_interval_s = ROLL_ROUND_S
    cluster.plan_path.write_text(cluster.plan.to_json(), encoding="utf-8")
    gateway = next((a for a in cluster.topology.agents if role_for(a.name, a.role).role == "gateway"), None)
    if gateway is None:
        raise InvalidValue("the spec has no gateway agent (role gateway): no dialogue path to keep answering")
    secret_file = write_secret_file(password, workdir / "secrets")
    cluster.environ["REDIS_PASSWORD_FILE"] = str(secret_file)
    url = (f"http://{cluster.plan.address_of(gateway.key, gateway.host)}:{cluster.plan.http_ports[gateway.key]}"
           "/dialogue/process")
    try:
        cluster.start(timeout=start_timeout)
        set_first_password(cluster, password.reveal())
        yield RotationStand(cluster, secret_file, password, url)
    finally:
        cluster.stop()


class ComposeRoll:
    """A compose stack as ``rotate`` drives a LocalCluster (stack/compose_secrets.py: its Redis requires this
    run's ``redis_password``, the groups read the bind-mounted secret file, rewritten in place so the containers
    see the new value): each host's Redis where this process reaches it, its group containers, a group
    "killed and started" by stopping and starting its container (``all_at_once``: every container stopped, all
    started, then every group waited for healthy)."""

    def __init__(self, stack: Any) -> None:
        from types import SimpleNamespace

        self.stack = stack
        self.plan = SimpleNamespace(redis={h: stack.redis_address(h) for h in stack.host_projects})
        self.groups: list[tuple[str, str]] = list(stack.services)

    def hosts(self) -> list[str]:
        return list(self.stack.host_projects)

    def kill_group(self, host: str, group: str) -> None:
        self.stack.kill_group(host, group)

    def start_group(self, host: str, group: str) -> None:
        from aisys_verify.stack.docker import run_docker

        run_docker("start", self.stack.group_container(host, group))  # all started first: they need each other

    def wait_ready(self, keys: list[tuple[str, str]], timeout: float) -> None:
        self.stack.runner.wait_healthy(list(keys), timeout)


def compose_rotation(stack: Any) -> RotationStand:
    """What ``rotate`` needs for a compose stack whose Redis requires ``redis_password`` (every host's): the
    stack as a ComposeRoll, its secret file, the current password and the gateway's dialogue URL."""
    from aisys_verify.plan.roles import role_for

    password = next((stack.redis_password(h) for h in stack.host_projects if stack.redis_password(h)), None)
    if password is None or any(stack.redis_password(h) is None for h in stack.host_projects):
        raise InvalidValue("a rotation on the compose backend needs every host's Redis to require redis_password "
                           "(declared in the hosts' compose overlays, values written by the stack)")
    gateway = next((a for a in stack.topology.agents if role_for(a.name, a.role).role == "gateway"), None)
    if gateway is None:
        raise InvalidValue("the spec has no gateway agent (role gateway): no dialogue path to keep answering")
    endpoint = stack.endpoint(gateway.name, gateway.host)
    return RotationStand(ComposeRoll(stack), stack.workdir / "secrets" / "redis_password", password,
                         f"{endpoint.http_url}/dialogue/process")
