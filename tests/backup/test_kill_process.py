"""Killing a process loses nothing it acknowledged: the stand-ins' SQLite memory store (a write is acknowledged
after its transaction commits) and a Redis with ``appendonly yes, appendfsync everysec`` are SIGKILLed in the
middle of a stream of writes, and every acknowledged write is read back afterwards.

What this does NOT show, and why: SIGKILL ends the process but not the kernel. Every byte a process handed
to write() is in the page cache and reaches the disk later whatever happens to the process, so a killed
process can never lose what it wrote (platform-notes.md "Backup": a SIGKILL lost none of 35,733 acknowledged
writes). A host crash or power cut also drops the page cache: what was written but not yet fsync()ed is
lost (Redis everysec: up to about a second; SQLite synchronous=FULL: nothing it acknowledged). Simulating
that needs dropping unsynced pages underneath a running process (a VM power-off, or a block device such
as dm-flakey / dm-log-writes); this machine runs in a container with neither, so it is not simulated here.
That is why RPO is measured by restoring a backup into a fresh store (suites/dr), not by killing a process.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from aisys_verify.backup.scratch import free_port, redis_binary

pytestmark = [pytest.mark.integration, pytest.mark.backup]

WRITER = """
import sys
from pathlib import Path
from aisys_verify.standin.roles.memory import Store
store = Store(Path(sys.argv[1]))
seq = 0
while True:
    seq += 1
    store.put("kill-test", "memory", {"seq": seq})
    print(seq, flush=True)  # the acknowledgement: only after the commit returned
"""


def test_sigkill_of_the_memory_store_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "Memory.sqlite"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    acked: list[int] = []
    deadline = time.monotonic() + 30
    while len(acked) < 300 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        acked.append(int(line))
    child.send_signal(signal.SIGKILL)  # mid-stream: the next write may be half done
    acked += [int(line) for line in child.stdout.read().split()]  # acknowledgements already in the pipe
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert len(acked) >= 300, f"the writer acknowledged only {len(acked)} writes"
    db = sqlite3.connect(path)
    stored = {json.loads(c)["seq"] for (c,) in db.execute("SELECT content FROM memories")}
    db.close()
    missing = sorted(set(acked) - stored)
    assert not missing, f"{len(missing)} acknowledged writes lost after SIGKILL: {missing[:10]}"


def _redis(folder: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                             "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                             "--logfile", str(folder / "redis.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _connect(port: int, popen: subprocess.Popen[bytes]) -> Any:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
    deadline = time.monotonic() + 20
    while True:
        assert popen.poll() is None, "redis-server exited"
        try:
            if client.ping() and not int(client.info("persistence")["loading"]):
                return client
        except (redis.ConnectionError, redis.BusyLoadingError):
            pass
        assert time.monotonic() < deadline, "redis-server did not answer"
        time.sleep(0.02)


def test_sigkill_of_redis_with_aof_everysec_loses_no_acknowledged_write(tmp_path: Path) -> None:
    port = free_port()
    server = _redis(tmp_path, port)
    try:
        client = _connect(port, server)
        acked = 0
        for seq in range(1, 3001):
            client.set(f"seq:{seq}", seq)
            acked = seq  # the reply arrived: acknowledged
        server.send_signal(signal.SIGKILL)
        server.wait()
        client.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    again = _redis(tmp_path, port)
    try:
        client = _connect(port, again)
        values = client.mget([f"seq:{n}" for n in range(1, acked + 1)])
        missing = [n for n, v in zip(range(1, acked + 1), values, strict=True) if v is None]
        assert not missing, f"{len(missing)} of {acked} acknowledged writes lost after SIGKILL: {missing[:10]}"
        client.close()
    finally:
        again.terminate()
        again.wait()
