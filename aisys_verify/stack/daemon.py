"""``aisys-verify up`` runs the stack in this detached supervisor, so it outlives the command.

It starts the stack, writes the endpoints to ``<workdir>/endpoints.json`` and its inventory (the stack as
an external deployment, stack/inventory.py) to ``<workdir>/inventory.yaml``, prints one JSON
line (``ready`` or ``failed``) on stdout for ``up`` to read, then waits for SIGTERM/SIGINT
(``aisys-verify down``) and stops the stack cleanly.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from aisys_verify.config import parse_tls, parse_vars
from aisys_verify.errors import VerifyError
from aisys_verify.stack.attached import write_handle
from aisys_verify.stack.base import StackOptions, backend_class
from aisys_verify.stack.common import write_endpoints
from aisys_verify.stack.inventory import write_inventory


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m aisys_verify.stack.daemon")
    parser.add_argument("--spec", action="append", required=True)
    parser.add_argument("--var", action="append", default=[])
    parser.add_argument("--backend", default="local")
    parser.add_argument("--no-proxies", action="store_true")
    parser.add_argument("--health-timeout", type=float, default=30.0)
    parser.add_argument("--tls", default="", help="mTLS on the HTTP side: the selection (config.parse_tls)")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lines: list[str] = []
    try:
        stack = backend_class(args.backend)(args.spec, parse_vars(args.var, "--var"),
                                            StackOptions(interpose=not args.no_proxies,
                                                         health_timeout=args.health_timeout,
                                                         tls=parse_tls(args.tls) if args.tls else {}),
                                            progress=lines.append)
        seconds = stack.start()
    except VerifyError as exc:
        print(json.dumps({"event": "failed", "error": str(exc), "progress": lines}), flush=True)
        return 1
    try:
        write_endpoints(stack.endpoints(), stack.workdir)
        write_handle(stack)  # lets 'aisys-verify chaos run --stack ID' drive this stack from another shell
        # the same stack as a running deployment: 'pytest --aisys-backend=external --aisys-inventory=...'
        inventory = write_inventory(stack, stack.workdir / "inventory.yaml")
        print(json.dumps({"event": "ready", "stack_id": stack.stack_id, "seconds": round(seconds, 3),
                          "workdir": str(stack.workdir), "agents": len(stack.topology.agents),
                          "inventory": str(inventory),
                          "tls_client": str(stack.tls.client_file) if getattr(stack, "tls", None) else None,
                          "progress": lines}), flush=True)
        sys.stdout.close()
        stop.wait()
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
