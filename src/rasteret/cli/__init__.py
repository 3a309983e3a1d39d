"""The ``rasteret`` command line.

``main`` builds an argparse parser from the modules of this package: every public module
(name not starting with ``_``) must define ``register(subparsers)``, which adds its commands and
sets ``handler=function(args) -> int`` on each of them with ``set_defaults``. Adding a command
module is therefore all a new command needs. Modules adding actions to a shared group such as
``datasets`` get its sub-command set with :func:`command_group`, in any order. Keep heavy
imports (pyarrow, the collection layer) inside handlers so ``rasteret --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TextIO

from rasteret._version import version
from rasteret.errors import RasteretError

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 error, 2 usage error)."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _show_warning
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
            handler: Handler = getattr(args, "handler", _help_of(parser))
            return handler(args)
        except SystemExit as exc:  # argparse: --help, --version, usage errors
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        except RasteretError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with the commands of every module of this package."""
    parser = argparse.ArgumentParser(
        prog="rasteret",
        description="Index Cloud-Optimized GeoTIFFs once, then read only the pixels you need.",
    )
    parser.add_argument("--version", action="version", version=f"rasteret {version()}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}").register(subparsers)
    return parser


def command_group(
    subparsers: argparse._SubParsersAction, name: str, help: str
) -> argparse._SubParsersAction:
    """The action set of command group ``name`` (e.g. ``datasets``), created on first use.

    Run without an action, a group prints its help.
    """
    group = subparsers.choices.get(name)
    if group is None:
        group = subparsers.add_parser(name, help=help, description=help)
        group.set_defaults(handler=_help_of(group))
        return group.add_subparsers(title="actions", metavar="ACTION")
    return next(a for a in group._actions if isinstance(a, argparse._SubParsersAction))


def _help_of(parser: argparse.ArgumentParser) -> Handler:
    def show_help(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 0

    return show_help


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Warnings as one readable line on stderr, without source locations."""
    print(f"warning: {message}", file=sys.stderr)
