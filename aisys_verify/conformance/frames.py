"""Hostile frames on the main socket: each gets a reply, and the socket answers a normal request afterwards.

PROTOCOL.md §2 lists the real answers (all ``{"status": "error", "error": ...}``): not JSON, a JSON array,
an object without ``action``, an unknown action, invalid UTF-8; §1: a 1.5 MiB request is processed
normally. A REP socket that does not reply to a frame is stuck for good, which is what the real twin does
with invalid UTF-8 (``invalid_utf8_wedges``). Each frame goes on a fresh REQ socket (one that got no reply
is unusable), followed by a ``ping`` on another fresh socket. Invalid UTF-8 goes last, so a wedge it causes
cannot hide how the other frames were answered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aisys_verify.conformance import wire
from aisys_verify.conformance.model import CheckResult, ConformanceOptions, failed, passed, skipped
from aisys_verify.conformance.ports import HTTP_MAIN, main_is_http, not_running_reason, running

CHECK = "hostile_frames"
CONTRACT = ("every frame on the main socket gets a reply (an error object for a bad one: not JSON, a JSON array, "
            "no action, an unknown action, invalid UTF-8; a 2 MiB request is served) and the socket keeps "
            "answering afterwards (PROTOCOL.md §1-2)")
BIG_FRAME_BYTES = 2 * 1024 * 1024
UTF8_FRAME = "a frame of invalid UTF-8"


def hostile_frames() -> list[tuple[str, bytes]]:
    """(what it is, the bytes), invalid UTF-8 last."""
    big = json.dumps({**wire.envelope("ping"), "padding": "x" * BIG_FRAME_BYTES}).encode()
    return [
        ("a frame that is not JSON", b"this is not json {"),
        ("a JSON array", b'["ping", {"action": "ping"}]'),
        ("a JSON object without 'action'", json.dumps({"source_agent": "aisys-verify-conformance"}).encode()),
        ("an unknown action", json.dumps(wire.envelope("aisys_conformance_no_such_action")).encode()),
        (f"a {len(big) / 1048576:.0f} MiB frame", big),
        (UTF8_FRAME, b'\xff\xfe{"action": "\xc3\x28ping"}'),
    ]


def check_hostile_frames(target: wire.Target, options: ConformanceOptions) -> CheckResult:
    if not running(target):
        return skipped(CHECK, target.key, not_running_reason(target))
    if main_is_http(target):
        return skipped(CHECK, target.key, f"{HTTP_MAIN}: no ZeroMQ frames to judge")
    url = target.endpoint.main_url
    problems: list[str] = []
    defects: list[str] = []
    answered: list[str] = []
    for what, frame in hostile_frames():
        raw = wire.exchange(url, frame, options.main_deadline_s)
        if raw is not None:
            if not isinstance(wire.parse(raw), Mapping):
                problems.append(f"{what} got a reply that is not a JSON object: {raw[:120]!r}")
            else:
                answered.append(what)
            continue
        if wire.answers_ping(url, options.main_deadline_s):
            problems.append(f"{what} got no reply within {options.main_deadline_s:g} s (the socket still answers "
                            "a ping afterwards)")
            continue
        problems.append(f"{what} got no reply within {options.main_deadline_s:g} s and the main socket has not "
                        "answered anything since (a ping on a fresh socket went unanswered): it is wedged")
        if what == UTF8_FRAME:
            defects.append("invalid_utf8_wedges")
        break  # a wedged socket answers nothing more: the remaining frames cannot be judged
    if problems:
        return failed(CHECK, target.key, f"{target.name}: " + "; ".join(problems), CONTRACT, defects)
    return passed(CHECK, target.key, f"answered {len(answered)} hostile frames and kept answering")
