"""The ``obliviate`` command line. Each subcommand lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed args, returns an exit
code). Modules are discovered here, so adding a subcommand touches one file; a module without ``register``
(or named ``_*``) is a helper shared by subcommands.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys

from obliviate.errors import ObliviateError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="obliviate",
        description="LLM unlearning: remove the influence of training data, then prove how well it worked.",
        epilog="Start with:  obliviate demo        (offline, CPU, a few minutes)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from obliviate import __version__

    parser.add_argument("--version", action="version", version=f"obliviate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):  # modules without it are shared helpers (tables)
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse cannot take positionals after an option (`unlearn a=1 --resume b=2`): route such key=value overrides
    if extra and isinstance(getattr(args, "overrides", None), list) and all("=" in e and e[0] != "-" for e in extra):
        args.overrides += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe (`obliviate methods | head`) surfaces here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away: stop quietly, as `yes | head` does. Point stdout at devnull so the interpreter's
        # final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ObliviateError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
