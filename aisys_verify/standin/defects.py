"""The stand-in profiles and the real agents' defects by name, with the parsers that check a name.

Kept apart from ``standin.profile`` (which resolves an agent's profile from a topology and a run plan) so that
``aisys_verify.config`` can validate ``--aisys-standin-profile`` / ``--aisys-standin-defects`` where they are
given while importing nothing above ``errors``.
"""

from __future__ import annotations

from collections.abc import Iterable

from aisys_verify.errors import UsageError

IDEAL, REFERENCE = "ideal", "reference"
PROFILES = (IDEAL, REFERENCE)
REFERENCE_SERVING_LOOP_S = 0.1  # PROTOCOL.md §1: the real serving loop sleeps 0.1 s per request

# name -> (what the real agent does, where PROTOCOL.md records it)
DEFECTS: dict[str, tuple[str, str]] = {
    "ready_ttl_not_refreshed": ("the readiness key is written once with a TTL and never refreshed, so the agent "
                                "turns degraded when it expires", "PROTOCOL.md §4 readiness key"),
    "http_health_always_200": ("HTTP /health answers 200 even when the body says degraded",
                               "PROTOCOL.md §1 HTTP health"),
    "binds_wrong_port": ("the agent binds a port other than the configured one (5643/6643 instead of 5706/6706)",
                         "PROTOCOL.md §4 configured vs bound port"),
    "double_bind": ("the agent binds its main port a second time: EADDRINUSE, it exits at start",
                    "PROTOCOL.md §4 double bind"),
    "unserialisable_reply": ("an action builds a reply that cannot be serialised: no reply, the main socket is stuck",
                             "PROTOCOL.md §3 SystemDigitalTwin get_metrics/get_history/simulate_load"),
    "invalid_utf8_wedges": ("a frame of invalid UTF-8 gets no reply and the main socket never answers again",
                            "PROTOCOL.md §2 invalid UTF-8"),
    "contradictory_health": ("the health reply says degraded together with ready: true and 'is healthy'",
                             "PROTOCOL.md §2 health reply"),
    "stale_ready_key_after_crash": ("the readiness key lives 300 s, so a crashed agent reads ready for up to 5 minutes",
                                    "PROTOCOL.md §4 readiness key"),
}


def parse_profile(value: str, where: str) -> str:
    text = value.strip().lower()
    if text not in PROFILES:
        raise UsageError(f"{where}: unknown stand-in profile {value!r}: use one of {', '.join(PROFILES)}")
    return text


def parse_defects(value: str | Iterable[str], where: str) -> tuple[str, ...]:
    """``"a,b"``, ``["a", "b"]`` or ``"all"`` into defect names, in DEFECTS order; unknown names fail."""
    items = [i.strip() for i in (value.split(",") if isinstance(value, str) else value) if str(i).strip()]
    if any(i.lower() == "all" for i in items):
        return tuple(DEFECTS)
    unknown = [i for i in items if i not in DEFECTS]
    if unknown:
        raise UsageError(f"{where}: unknown stand-in defect(s) {', '.join(map(repr, unknown))}: "
                         f"use 'all' or some of {', '.join(DEFECTS)}")
    return tuple(d for d in DEFECTS if d in items)
