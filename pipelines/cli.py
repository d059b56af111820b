"""The `uapi` command: thin argument parsing over the pipeline and sandbox packages."""

from __future__ import annotations

import argparse
import sys

from transforms.cli import add_subcommands as add_transform_subcommands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uapi", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_transform_subcommands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
