"""Locust user classes for the system's workloads. Imported only inside Locust processes (gevent).

Every request is timed here and recorded by the process's Recorder: from its intended start in
the open model (the Pacer's slot), from its send in the closed model. Locust's own request event
still fires, so Locust's console and CSV stats stay available, but they are not the source of truth.
"""

from __future__ import annotations

import itertools
import json
import random
import time
import uuid
from collections import deque
from typing import Any, ClassVar

import gevent  # type: ignore[import-untyped]
import zmq.green as zmq
from locust import User, constant, task
from locust.contrib.fasthttp import FastHttpUser

from aisys_verify.load.recorder import Pacer, Recorder
from aisys_verify.replies import error_text, failed

SOURCE = "aisys-verify-load"
_PROMPTS = ("hello there", "what is the weather like", "remember that my name is Ada", "tell me a story",
            "translate good morning to French", "what did I just say", "summarise our conversation")


class Context:
    """What every user of this process shares: the plan (targets, timeout), the recorder, the pacer."""

    plan: ClassVar[dict[str, Any]] = {}
    recorder: ClassVar[Recorder | None] = None
    pacer: ClassVar[Pacer | None] = None  # open model only
    record: ClassVar[Any] = None          # recorder.record, bound once (the hot path)
    lag: ClassVar[Any] = None             # recorder.lag.record

    @classmethod
    def install(cls, plan: dict[str, Any], recorder: Recorder, pacer: Pacer | None) -> None:
        cls.plan, cls.recorder, cls.pacer = plan, recorder, pacer
        cls.record, cls.lag = recorder.record, recorder.lag.record


class _Paced:
    """The loop common to all workloads: take a slot (open model) or go at once (closed), send, record."""

    wait_time = constant(0)
    environment: Any

    @staticmethod
    def _begin() -> float | None:
        """When this request counts from (perf_counter): its slot in the open model, now in the closed
        one; None when the open model's schedule has ended (the runner stops the users within a second)."""
        pacer = Context.pacer
        if pacer is None:
            return time.perf_counter()
        slot = pacer.next_slot()
        if slot is None:
            gevent.sleep(0.5)
            return None
        delay = slot - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        Context.lag(max(0.0, time.perf_counter() - slot))
        return slot

    def _run(self, endpoint: str, send: Any) -> None:
        begin = self._begin()
        if begin is None:
            return
        try:
            failed = bool(send())
        except gevent.GreenletExit:
            raise  # the run is stopping: this request was never answered nor timed out
        except Exception:  # any raise is a failed request; Locust already counted it in its own stats
            failed = True
        Context.record(endpoint, begin, time.perf_counter() - begin, failed)


class HttpWorkload(_Paced, FastHttpUser):
    """HTTP through Locust's FastHttpUser (geventhttpclient): failed = no response or HTTP >= 500."""

    abstract = True

    def _http(self, endpoint: str, method: str, path: str, body: Any = None) -> None:
        # _run inlined: this is the hot path of the throughput benchmark
        begin = self._begin()
        if begin is None:
            return
        try:
            status = self.client.request(method, path, name=endpoint, json=body).status_code
            failed = not 0 < status < 500
        except gevent.GreenletExit:
            raise
        except Exception:
            failed = True
        Context.record(endpoint, begin, time.perf_counter() - begin, failed)


class ZmqWorkload(_Paced, User):
    """ZeroMQ REQ/REP with the real envelope; failed = timeout, error or a reply with status "error".

    A REQ socket that timed out is closed and replaced (the lazy-pirate pattern): REQ cannot send again
    before it has read a reply.
    """

    abstract = True

    def on_start(self) -> None:
        self._ctx: Any = zmq.Context.instance()
        self._sockets: dict[str, Any] = {}

    def on_stop(self) -> None:
        for sock in self._sockets.values():
            sock.close(linger=0)
        self._sockets.clear()

    def _socket(self, url: str) -> Any:
        sock = self._sockets.get(url)
        if sock is None:
            from aisys_verify.standin.curve import process_keys, secure_client

            sock = self._sockets[url] = self._ctx.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            secure_client(sock, process_keys())  # CurveZMQ when SECURE_ZMQ=1 (the stack's keys)
            sock.connect(url)
        return sock

    def _zmq(self, agent: str, action: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        target = Context.plan["agents"][agent]
        endpoint = f"zmq:{target['host']}/{agent}:{action}"
        timeout = float(Context.plan["timeout"])
        reply: dict[str, Any] | None = None

        def send() -> bool:
            nonlocal reply
            sock = self._socket(target["url"])
            message = {**fields, "action": action, "source_agent": SOURCE, "request_id": str(uuid.uuid4()),
                       "timestamp": time.time()}
            started = time.perf_counter()
            error: Exception | None = None
            sock.send(json.dumps(message).encode())
            if sock.poll(timeout * 1000):
                raw = sock.recv()
                reply = json.loads(raw)
                if failed(reply):  # status error (either dialect; the text in error or message) or not an object
                    error = RuntimeError(f"error reply: {error_text(reply)[:160] or str(reply)[:200]}")
            else:
                sock.close(linger=0)
                del self._sockets[target["url"]]
                raw, error = b"", TimeoutError(f"no reply within {timeout:g} s")
            self.environment.events.request.fire(
                request_type="ZMQ", name=endpoint, response_time=(time.perf_counter() - started) * 1000,
                response_length=len(raw), exception=error, context={})
            return error is not None

        self._run(endpoint, send)
        return reply


class ConversationUser(HttpWorkload):
    """A user talking to the web gateway: POST /dialogue/process in a session of a few turns."""

    abstract = True
    endpoints: ClassVar[tuple[str, ...]] = ("gateway:POST /dialogue/process",)

    def on_start(self) -> None:
        self._session = f"load-{uuid.uuid4().hex[:12]}"
        self._turns = itertools.count()

    @task
    def turn(self) -> None:
        if next(self._turns) % 5 == 4:
            self._session = f"load-{uuid.uuid4().hex[:12]}"
        self._http(self.endpoints[0], "POST", "/dialogue/process",
                   {"text": random.choice(_PROMPTS), "session_id": self._session})


class HttpGetUser(HttpWorkload):
    """A plain request to a URL (benchmarks, tests): the path and method come from the scenario."""

    abstract = True

    @task
    def get(self) -> None:
        options = Context.plan["http"]
        self._http(options["endpoint"], options["method"], options["path"])


class MemoryUser(ZmqWorkload):
    """Store then retrieve memories on MemoryOrchestratorService (alternating, one request per slot)."""

    abstract = True
    agents: ClassVar[tuple[str, ...]] = ("MemoryOrchestratorService",)
    actions: ClassVar[tuple[str, ...]] = ("store_memory", "get_memory")

    def on_start(self) -> None:
        super().on_start()
        self._ids: deque[str] = deque(maxlen=50)
        self._session = f"load-{uuid.uuid4().hex[:12]}"

    @task
    def store_or_retrieve(self) -> None:
        if not self._ids or random.random() < 0.5:
            reply = self._zmq(self.agents[0], "store_memory", {
                "content": f"load test memory {random.randrange(10**6)}", "session_id": self._session})
            if reply and isinstance(reply.get("memory_id"), str):
                self._ids.append(reply["memory_id"])
        else:
            self._zmq(self.agents[0], "get_memory", {"memory_id": random.choice(self._ids)})


class VisionUser(ZmqWorkload):
    abstract = True
    agents: ClassVar[tuple[str, ...]] = ("VisionProcessingAgent",)
    actions: ClassVar[tuple[str, ...]] = ("recognize",)

    @task
    def recognize(self) -> None:
        self._zmq(self.agents[0], "recognize", {"input": "frame-" + "x" * 256, "task": "describe"})


class SpeechUser(ZmqWorkload):
    """Speech in and out: STTService transcribe and TTSService synthesize, alternately."""

    abstract = True
    agents: ClassVar[tuple[str, ...]] = ("STTService", "TTSService")
    actions: ClassVar[tuple[str, ...]] = ("transcribe", "synthesize")

    def on_start(self) -> None:
        super().on_start()
        self._turn = itertools.cycle((0, 1))

    @task
    def speak(self) -> None:
        if next(self._turn) == 0:
            self._zmq("STTService", "transcribe", {"input": "pcm-" + "0" * 512})
        else:
            self._zmq("TTSService", "synthesize", {"text": random.choice(_PROMPTS)})


class ReasoningUser(ZmqWorkload):
    abstract = True
    agents: ClassVar[tuple[str, ...]] = ("ChainOfThoughtAgent",)
    actions: ClassVar[tuple[str, ...]] = ("reason",)

    @task
    def reason(self) -> None:
        self._zmq(self.agents[0], "reason", {"text": random.choice(_PROMPTS)})


WORKLOAD_CLASSES: dict[str, type[User]] = {
    "conversation": ConversationUser, "memory": MemoryUser, "vision": VisionUser, "speech": SpeechUser,
    "reasoning": ReasoningUser, "http-get": HttpGetUser,
}
