"""The command line: ``derive list`` and ``derive check``.

The only module that prints or exits.  Errors from the layers below arrive as
:class:`DeriveError` and are printed once, as ``error: ...``, with exit code 1
(bad input) or 2 (usage); nothing is turned into a verdict here.
"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import DeriveError, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see 'derive --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="derive", description="Check hand derivations of softmax / cross-entropy gradients step by step.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="name the built-in derivations")
    check = sub.add_parser("check", help="check derivations step by step")
    check.add_argument("names", nargs="*", metavar="NAME|FILE",
                       help="built-in derivations or derivation files to check (default: the notes')")
    check.add_argument("--json", action="store_true", help="print a machine-readable result")
    check.add_argument("--all", action="store_true", dest="include_all",
                       help="also check the derivations behind the generated code")
    check.add_argument("--allow-numeric", action="store_true",
                       help="exit 0 even if some step only holds numerically")
    codegen = sub.add_parser("codegen", help="generate NumPy code from the proved derivations")
    codegen.add_argument("files", nargs="*", metavar="FILE",
                         help="derivation files that replace the built-in derivations of the same name")
    codegen.add_argument("--check", action="store_true",
                         help="exit 1 if the generated files differ from what would be written")
    codegen.add_argument("-o", "--output", metavar="DIR", default=None,
                         help="directory to write into (default: generated/ next to templates/)")
    report = sub.add_parser("report", help="render the LaTeX proof report and compile it to PDF")
    report.add_argument("names", nargs="*", metavar="NAME|FILE",
                        help="built-in derivations or derivation files to include (default: all built-in)")
    report.add_argument("-o", "--output", metavar="DIR", default=None,
                        help="output directory (default: generated/report/)")
    report.add_argument("--no-pdf", action="store_true", help="write report.tex only")
    return parser


def _builtin():
    """The notes' derivations (read from their LaTeX files), then the ones behind the generated code."""
    from . import derivation_file, stability

    return derivation_file.builtin_notes(), stability.all_derivations()


def _is_file(name: str) -> bool:
    from pathlib import Path

    return name.endswith(".deriv") or Path(name).is_file()


def _select(names, include_all=False):
    """Derivations named on the command line: files (FILE.deriv) or built-in names."""
    from . import derivation_file

    notes, stability = _builtin()
    known = {**notes, **stability}
    unknown = [n for n in names if n not in known and not _is_file(n)]
    if unknown:
        raise UsageError(f"unknown derivation(s) {', '.join(unknown)}; known: {', '.join(known)} "
                         "(or give a derivation file, FILE.deriv)")
    if names:
        return [derivation_file.load(n) if _is_file(n) else known[n] for n in names]
    return list(known.values()) if include_all else list(notes.values())


def cmd_list(args) -> int:
    notes, stability = _builtin()
    for heading, group in (("the notes", notes), ("numerics of the generated code", stability)):
        print(f"{heading}:")
        for d in group.values():
            print(f"  {d.name:<20} {d.title} ({len(d.steps)} steps)")
    return 0


def cmd_check(args) -> int:
    from .checker import check_derivation
    from .presentation import to_json_data, to_text

    reports = [check_derivation(d) for d in _select(args.names, args.include_all)]
    if args.json:
        print(json.dumps(to_json_data(reports, args.allow_numeric), indent=2, ensure_ascii=False))
    else:
        print(to_text(reports, args.allow_numeric))
    return 0 if all(r.passed(args.allow_numeric) for r in reports) else 1


def cmd_codegen(args) -> int:
    from pathlib import Path

    from . import codegen, derivation_file, kernels

    kernels.replace_derivations([derivation_file.load(f) for f in args.files])
    directory = Path(args.output) if args.output else codegen.ROOT / "generated"
    target = directory / codegen.OUTPUT_NAME
    text = codegen.render()
    if args.check:
        diff = codegen.difference(target, text)
        if diff:
            print(f"{target} is stale or was edited by hand; run 'derive codegen' to regenerate.\n{diff}")
            return 1
        print(f"{target} is up to date")
        return 0
    codegen.write_atomically(target, text)
    print(f"wrote {target} ({len(text.splitlines())} lines)")
    return 0


def cmd_report(args) -> int:
    from pathlib import Path

    from . import codegen, latex_build, measure
    from .checker import check_derivation
    from .report import Numerics, build_tex

    reports = [check_derivation(d) for d in _select(args.names, include_all=True)]
    numerics = None
    if measure.GENERATED.exists():
        import numpy as np

        module = measure.load_generated()
        rows = [measure.accuracy(module, dtype, scale, classes)
                for dtype in (np.float64, np.float32) for scale in (1, 100, 1e4) for classes in (2, 10, 1000)]
        numerics = Numerics(rows, measure.finite_differences(module), measure.GENERATED.read_text())
    tex = build_tex(reports, numerics)
    directory = Path(args.output) if args.output else codegen.ROOT / "generated" / "report"
    if args.no_pdf:
        print(f"wrote {latex_build.write_tex(directory, tex)}")
        return 0
    print(f"wrote {latex_build.compile_pdf(directory, tex)}")
    return 0


COMMANDS = {"list": cmd_list, "check": cmd_check, "codegen": cmd_codegen, "report": cmd_report}


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except DeriveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
