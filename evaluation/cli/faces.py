"""`rekognition-eval faces cleanup`: the face collections the harness left behind, listed and deleted.

A run deletes its temporary collection when it ends (success, error, Ctrl-C, SIGTERM, --max-runtime);
only a process killed outright leaves one. This lists every collection named with the harness's prefix,
says which ones the harness created (its name pattern and its created-by tag), and with --delete
deletes those, never any other.
"""

from __future__ import annotations

import argparse
from typing import Any

from evaluation.cli import common
from evaluation.cli.common import EXIT_OK


def add_faces_parser(commands: Any) -> None:
    faces = commands.add_parser("faces", help="face collections the harness created")
    sub = faces.add_subparsers(dest="faces_command", metavar="COMMAND", required=True)
    cleanup = sub.add_parser(
        "cleanup",
        help="list the harness's leftover face collections; --delete deletes them",
        description=__doc__,
    )
    cleanup.add_argument("--delete", action="store_true", help="delete the collections the harness created")
    cleanup.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    cleanup.add_argument("--profile", help="AWS profile name")
    cleanup.add_argument("--endpoint-url", help="a Rekognition-compatible endpoint instead of AWS's")
    cleanup.add_argument(
        "--prefix", help="the collection name prefix (default: the stack's, else rekognition-eval-)"
    )
    cleanup.add_argument(
        "--stack-outputs", metavar="FILE", help="run as this project's stack's role, in its region"
    )
    cleanup.add_argument("--no-assume-role", dest="assume_role", action="store_false")


def cmd_faces(args: argparse.Namespace) -> int:
    from evaluation.aws.collections import PREFIX, delete_leftovers, leftovers
    from evaluation.calls.backends import make_client

    outputs, session = common.stack(args)
    region = args.region or (outputs.region if outputs else None)
    prefix = args.prefix or (getattr(outputs, "collection_prefix", None) if outputs else None) or PREFIX
    client = make_client(
        session=session,
        region=region,
        profile=None if session else args.profile,
        endpoint_url=args.endpoint_url,
    )
    found = leftovers(client, prefix=prefix)
    if not found:
        print(f"No face collections named {prefix}*.")
        return EXIT_OK
    for leftover in found:
        faces = "?" if leftover.face_count is None else str(leftover.face_count)
        mark = "harness" if leftover.ours else "not ours, kept"
        print(f"{leftover.name}\t{faces} faces\t{leftover.created or '?'}\t{mark}: {leftover.reason}")
    if args.delete:
        deleted = delete_leftovers(client, found)
        print(
            f"Deleted {len(deleted)} collection(s); {len(found) - len(deleted)} not created by the harness "
            "kept."
        )
    elif any(leftover.ours for leftover in found):
        print("Run again with --delete to delete the collections the harness created.")
    return EXIT_OK
