"""`dcgan VERB ...`: thin verbs over the Python API, one module per area. Each verb's flags
are generated from its dataclass (dcgan.cli.args), which nests the API's config where there
is one, so the CLI and the API share one table of defaults and checks. Nothing heavy (torch)
is imported until a verb runs."""

from __future__ import annotations

import argparse
import sys
import typing
import warnings

from dcgan.cli import core, datatools, experiments, export, internals, latent, quality
from dcgan.cli.args import add_dataclass_args, build_dataclass, rename_old_flags
from dcgan.errors import DcganError

__all__ = ["add_dataclass_args", "build_dataclass", "main", "parser"]
AREAS = (core, latent, internals, datatools, quality, experiments, export)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit code 2."""

    def __init__(self, *args: typing.Any, **kwargs: typing.Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # a flag is what it says (see --resume)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="dcgan",
        description="Deep Convolutional GANs (Radford et al., ICLR 2016).",
    )
    verbs = top.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=_Parser)
    for area in AREAS:
        area.register(verbs)
    return top


def _spec(top: argparse.ArgumentParser, argv: list[str]) -> type | None:
    """The dataclass of the verb `argv` names first, if it names one."""
    verbs = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    verb = verbs.choices.get(argv[0]) if argv else None
    return verb.get_default("spec") if verb is not None else None


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning on the command line is one line for the user, not our file and source."""
    print(f"dcgan: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = parser()
    spec = _spec(top, argv)
    if spec is not None:
        argv, renamed = rename_old_flags(spec, argv)
        for note in renamed:
            print(f"dcgan: warning: {note}", file=sys.stderr)
    args = top.parse_args(argv)
    try:
        with warnings.catch_warnings():  # restores Python's own printer afterwards
            warnings.showwarning = _one_line_warning
            return args.func(build_dataclass(args.spec, args, argv=tuple(argv))) or 0
    except DcganError as e:
        print(f"dcgan: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # unwritable output, full disk, ...
        where = f": {e.filename}" if e.filename else ""
        print(f"dcgan: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dcgan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
