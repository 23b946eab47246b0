"""``josef mock``: run the embedded mock cluster as a server until Ctrl-C (the same as ``python -m josef.testing``)."""

from __future__ import annotations

import argparse
from typing import Any

from josef.testing.serve import EPILOG, add_arguments, run

__all__ = ["add_mock_command"]


def add_mock_command(sub: Any) -> None:
    """Register ``josef mock`` on the CLI's subparsers."""
    parser = sub.add_parser("mock", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
                            help="run the mock Kafka cluster until Ctrl-C (local development, CI)",
                            description="Run josef's mock Kafka cluster until Ctrl-C.")
    add_arguments(parser)
    parser.set_defaults(func=run)
