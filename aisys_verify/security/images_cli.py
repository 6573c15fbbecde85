"""``aisys-verify images ...``: the stack's images by digest, signed and verified with cosign (offline).

    aisys-verify images digests [--image TAG...] [--stack ID]
    aisys-verify images sign [--image TAG...] [--store DIR] [--key cosign.key [--password-file FILE]]
    aisys-verify images verify [--image TAG...] [--stack ID] [--store DIR] [--key cosign.pub]

Default images: the ones a compose stack runs (stand-in, Redis, Toxiproxy). Default store: ``<state
dir>/provenance``. ``sign`` without ``--key`` makes a key pair for the run (its private half is deleted after
signing); with ``--key`` the password comes from ``--password-file`` or ``COSIGN_PASSWORD`` and is never
printed. Exit 0: every image verified; 1: an image carries no valid signature; 2: unusable input or cosign
missing (scripts/build-cosign).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from aisys_verify.cli_support import EXIT_CLEAN, EXIT_FINDINGS


def add_commands(sub: argparse._SubParsersAction[Any],
                 spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    images = sub.add_parser("images", help="the stack's images by digest, signed and verified (docs/security.md)",
                            description="Image provenance: digests, cosign signing and verification on a loopback "
                                        "registry, offline (no transparency log).")
    commands = images.add_subparsers(dest="images_command", metavar="{digests,sign,verify}", required=True)
    digests = commands.add_parser("digests", help="each image's ID and registry digests")
    sign = commands.add_parser("sign", help="sign the images by digest; keep signatures and public key in the store")
    verify = commands.add_parser("verify", help="verify the images as they are now against the stored signatures")
    for parser in (digests, sign, verify):
        parser.add_argument("--image", action="append", metavar="TAG",
                            help="a local image (repeat; default: the compose stack's stand-in, Redis, Toxiproxy)")
    for parser in (digests, verify):
        parser.add_argument("--stack", metavar="ID",
                            help="the images a running compose stack's containers run (see 'aisys-verify status')")
    for parser in (sign, verify):
        parser.add_argument("--store", type=Path, metavar="DIR",
                            help="signatures and public key (default: <state dir>/provenance)")
    sign.add_argument("--key", type=Path, help="your cosign private key (default: a key pair made for this run)")
    sign.add_argument("--password-file", type=Path, help="the key's password (default: $COSIGN_PASSWORD)")
    verify.add_argument("--key", type=Path, help="the cosign public key (default: the store's cosign.pub)")
    digests.set_defaults(handler=cmd_digests)
    sign.set_defaults(handler=cmd_sign)
    verify.set_defaults(handler=cmd_verify)


def _tags(args: argparse.Namespace) -> list[str]:
    from aisys_verify.security.trust import stack_image_tags

    if getattr(args, "stack", None):
        return _stack_tags(args.stack) + list(args.image or ())
    return list(args.image) if args.image else stack_image_tags()


def _stack_tags(stack_id: str) -> list[str]:
    """The images the compose stack ``stack_id`` recorded (by their IDs: exactly what its containers run)."""
    from aisys_verify.errors import UsageError
    from aisys_verify.stack.state import StackRecord, state_dir

    record = StackRecord.load(state_dir() / f"{stack_id}.json")
    if record is None:
        raise UsageError(f"--stack {stack_id}: no such stack in {state_dir()} (see 'aisys-verify status')")
    if not record.images:
        raise UsageError(f"--stack {stack_id}: its record names no image (only compose stacks run images)")
    return [str(image["image_id"]) for image in record.images]


def _stack_names(stack_id: str) -> dict[str, str]:
    from aisys_verify.stack.state import StackRecord, state_dir

    record = StackRecord.load(state_dir() / f"{stack_id}.json")
    return {str(i["image_id"]): str(i["tag"]) for i in record.images} if record else {}


def _ready() -> None:
    from aisys_verify.errors import UsageError
    from aisys_verify.security.registry import missing_tools

    if why := missing_tools():
        raise UsageError(f"images: {why}")


def cmd_digests(args: argparse.Namespace) -> int:
    from aisys_verify.security.provenance import image_digests

    for found in image_digests(_tags(args)):
        print(found.line())
    return EXIT_CLEAN


def _user_keys(key: Path, password_file: Path | None) -> Any:
    from aisys_verify.errors import UsageError
    from aisys_verify.security.provenance import PASSWORD_ENV, KeyPair
    from aisys_verify.security.secrets import Secret

    if not key.is_file():
        raise UsageError(f"--key {key}: no such file (a cosign private key, from 'cosign generate-key-pair')")
    public = key.with_suffix(".pub")
    if not public.is_file():
        raise UsageError(f"--key {key}: its public half {public} is missing (both come from cosign generate-key-pair)")
    if password_file is not None:
        try:
            value = password_file.read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise UsageError(f"--password-file {password_file}: cannot read it ({exc.strerror or exc})") from exc
    else:
        value = os.environ.get(PASSWORD_ENV, "")
    if not value:
        raise UsageError(f"--key {key}: give its password in --password-file or ${PASSWORD_ENV}")
    return KeyPair(key, public, Secret("cosign-password", value))


def _report(results: list[Any]) -> int:
    from aisys_verify.errors import SignatureInvalid
    from aisys_verify.security.provenance import check_verifications

    try:
        print(check_verifications(results))
    except SignatureInvalid as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_CLEAN


def cmd_sign(args: argparse.Namespace) -> int:
    from aisys_verify.security.trust import default_store, sign_images

    _ready()
    keys = _user_keys(args.key, args.password_file) if args.key else None
    store = args.store or default_store()
    results = sign_images(_tags(args), store, keys=keys, progress=print)
    print(f"signatures and public key in {store} (offline: no transparency log)")
    return _report(results)


def cmd_verify(args: argparse.Namespace) -> int:
    from aisys_verify.security.trust import default_store, verify_images

    _ready()
    results = verify_images(_tags(args), args.store or default_store(), public_key=args.key)
    if args.stack:  # recorded by image ID (what the containers run): show the name they were started with too
        names = _stack_names(args.stack)
        results = [replace(r, tag=f"{names[r.tag]} ({r.tag[:19]})") if r.tag in names else r for r in results]
    return _report(results)
