"""`rekognition-eval serve`: the local model behind Rekognition's protocol, for offline work."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from evaluation.cli.common import EXIT_OK
from evaluation.errors import UserError


def add_parser(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="answer DetectLabels with the local model, over Rekognition's protocol",
        description=(
            "A Rekognition-compatible endpoint for offline development: boto3 pointed at it with "
            "endpoint_url gets DetectLabels answers from the local baseline model (ImageNet classes; "
            "no person class), and the service's errors for malformed requests. Ctrl-C stops it."
        ),
    )
    serve.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765; 0: any)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from evaluation.server.serve import build_server

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be within 0 and 65535, got {args.port}")
    try:
        server = build_server(host=args.host, port=args.port)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(
        f"Serving DetectLabels ({server.handler.model.version}) at {server.url}\n"
        f"  boto3.client('rekognition', endpoint_url='{server.url}', region_name='us-east-1')\n"
        "Ctrl-C to stop.",
        flush=True,
    )
    server.start()
    try:
        threading.Event().wait()  # until Ctrl-C; requests are served on the server's threads
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
    finally:
        server.stop()
    return EXIT_OK
