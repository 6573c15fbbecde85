"""The names the compose backend gives what it generates (labels, services, paths in the containers), and the
small helpers its files are written with.

Kept apart from ``stack.compose`` so that ``stack.spec_images``, which ``stack.compose`` uses, reads them
without importing ``stack.compose`` back.
"""

from __future__ import annotations

import re
from typing import Any

LABEL_ROLE = "com.aisys-verify.role"  # group | redis | toxiproxy | anchor (spec images: a host's namespace)
LABEL_HOST = "com.aisys-verify.host"
LABEL_GROUP = "com.aisys-verify.group"
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
PLAN_PATH = "/run/aisys/plan.json"
LOG_DIR = "/var/log/aisys"
DATA_DIR = "/var/lib/aisys"
TOXIPROXY_SERVICE = "toxiproxy"
TOXIPROXY_PORT = 8474
REDIS_SERVICE = "aisys-redis"
REDIS_VOLUME = "aisys_redis"  # the host Redis's --dir, a volume of the host's project
REDIS_DATA_DIR = "/data"
STOP_GRACE_S = 10  # SIGTERM, then SIGKILL: stand-ins stop in about 2 s when the machine is not busy
DUMMY_SECRET = "aisys-verify stand-in secret (not a real credential)\n"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "x"


def as_dict(labels: Any) -> dict[str, str]:
    if isinstance(labels, dict):
        return {str(k): str(v) for k, v in labels.items()}
    if isinstance(labels, list):
        pairs = (str(x).partition("=") for x in labels)
        return {k: v for k, _, v in pairs}
    return {}
