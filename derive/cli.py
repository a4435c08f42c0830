"""The command line: ``derive list``, ``check``, ``codegen`` and ``report``.

The only module that prints or exits.  Errors from the layers below arrive as
:class:`DeriveError` and are printed once, as ``error: ...``, with the exit
code of their class (see ``errors.py``): 0 everything passed, 1 a check failed
or an output could not be made, 2 a usage error, 3 an input file is missing or
malformed.  SIGTERM is turned into an exception like Ctrl-C, so that every
temporary file and TeX process is cleaned up on the way out.  Text for the
terminal has its non-printable characters escaped: a derivation file cannot
send escape sequences to it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from . import __version__
from .errors import DeriveError, InputError, UsageError

EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INPUT = 0, 1, 2, 3


class Terminated(BaseException):
    """SIGTERM arrived: unwind like KeyboardInterrupt, running every cleanup."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see 'derive --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="derive",
                     description="Check hand derivations of softmax / cross-entropy gradients step by step.",
                     epilog="Exit codes: 0 every derivation passes, 1 a check failed (or an output could not be "
                            "written), 2 usage error, 3 an input file is missing or malformed.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="name the built-in derivations")
    check = sub.add_parser("check", help="check derivations step by step")
    check.add_argument("names", nargs="*", metavar="NAME|FILE",
                       help="built-in derivations, derivation files (.deriv) or documents (.md, .tex) to check "
                            "(default: the notes')")
    check.add_argument("--json", action="store_true", help="print a machine-readable result (also on errors)")
    check.add_argument("--all", action="store_true", dest="include_all",
                       help="also check the derivations behind the generated code")
    check.add_argument("--allow-numeric", action="store_true",
                       help="exit 0 even if some step only holds numerically")
    check.add_argument("--unicode", action="store_true",
                       help="print formulas in Unicode (∂E/∂z_j = y_j − t_j) instead of LaTeX")
    check.add_argument("--strict", action="store_true",
                       help="fail a step that is true but does not follow by its cited reason (or cites none)")
    codegen = sub.add_parser("codegen", help="generate NumPy code from the proved derivations")
    codegen.add_argument("files", nargs="*", metavar="FILE",
                         help="derivation files that replace the built-in derivations of the same name")
    codegen.add_argument("--check", action="store_true",
                         help="exit 1 if the generated files differ from what would be written")
    codegen.add_argument("-o", "--output", metavar="DIR", default=None,
                         help="directory to write into (default: ./generated)")
    codegen.add_argument("--backend", choices=("numpy", "numba", "all"), default=None,
                         help="numpy: softmax_ce.py (default); numba: softmax_ce_numba.py, fused compiled loops "
                              "(compiled ahead when numba is installed); all: both. --check checks both by default")
    warm = sub.add_parser("warm", help="compile the numba module's kernels into numba's cache ahead of first use")
    warm.add_argument("module", nargs="?", metavar="FILE", default=None,
                      help="the generated numba module (default: ./generated/softmax_ce_numba.py)")
    report = sub.add_parser("report", help="render the LaTeX proof report and compile it to PDF")
    report.add_argument("names", nargs="*", metavar="NAME|FILE",
                        help="built-in derivations or derivation files to include (default: all built-in)")
    report.add_argument("-o", "--output", metavar="DIR", default=None,
                        help="output directory (default: ./generated/report)")
    report.add_argument("--no-pdf", action="store_true", help="write report.tex only")
    report.add_argument("--code", action="store_true",
                        help="include the generated code and its measurements (always so without NAME|FILE)")
    report.add_argument("--html", action="store_true",
                        help="also write report.html: one self-contained page, math as MathML")
    return parser


def printable(text: str) -> str:
    from .output.text import printable as escaped

    return escaped(text)


def say(text: str = "", stream=None) -> None:
    print(printable(text), file=stream or sys.stdout)


def _builtin():
    """The notes' derivations, then the ones behind the generated code and the rules behind justifications
    (all read from their files)."""
    from .read import builtin

    return builtin.notes(), {**builtin.numerics(), **builtin.rules()}


def _is_file(name: str) -> bool:
    from pathlib import Path

    from .read.document import is_document

    return name.endswith(".deriv") or is_document(name) or Path(name).exists()


def _select(names, include_all=False):
    """(derivations named on the command line, input errors): files (FILE.deriv) or built-in names.

    A file that cannot be read or parsed is an error of its own; the other
    files are still checked.
    """
    from .read import derivation_file
    from .read.document import is_document
    from .read.documents import load_document

    notes, stability = _builtin()
    known = {**notes, **stability}
    unknown = [n for n in names if n not in known and not _is_file(n)]
    if unknown:
        raise UsageError(f"unknown derivation(s) {', '.join(unknown)}; known: {', '.join(known)} "
                         "(or give a derivation file, FILE.deriv)")
    if not names:
        return (list(known.values()) if include_all else list(notes.values())), []
    derivations, errors = [], []
    for name in names:
        if not _is_file(name):
            derivations.append(known[name])
            continue
        try:
            if is_document(name):  # Markdown or LaTeX: every derivation in it, and every formula it cannot read
                document = load_document(name)
                derivations.extend(document.derivations)
                errors.extend((name, exc) for exc in document.errors)
                if not document.derivations and not document.errors:
                    errors.append((name, InputError(f"{name}: no derivation found (no display math with '=')")))
            else:
                derivations.append(derivation_file.load(name))
        except InputError as exc:
            errors.append((name, exc))
    return derivations, errors


def _error_dict(name: str, exc: InputError) -> dict:
    out = {"file": name, "message": str(exc).splitlines()[0]}
    for field in ("line", "column"):
        if hasattr(exc, field):
            out[field] = getattr(exc, field)
    if hasattr(exc, "problem"):
        out["problem"] = exc.problem
    return out


def cmd_list(args) -> int:
    from .output.prose import plain
    from .read import builtin

    groups = (("the notes", builtin.notes()), ("numerics of the generated code", builtin.numerics()),
              ("rules behind justifications", builtin.rules()))
    for heading, group in groups:
        say(f"{heading}:")
        for d in group.values():
            steps = f"{len(d.steps)} step" + ("" if len(d.steps) == 1 else "s")
            say(f"  {d.name:<25} {plain(d.title, unicode=True)} ({steps})")
    return EXIT_PASS


def cmd_check(args) -> int:
    from .check.checker import check_derivation
    from .output.text import terminal_style, to_json_data, to_text

    derivations, errors = _select(args.names, args.include_all)
    reports = [check_derivation(d) for d in derivations]
    if args.json:
        data = to_json_data(reports, args.allow_numeric, args.strict)
        data["errors"] = [_error_dict(name, exc) for name, exc in errors]
        print(json.dumps(data, indent=2, ensure_ascii=True))
    else:
        for _, exc in errors:
            say(f"error: {exc}", sys.stderr)
        if reports:
            print(to_text(reports, args.allow_numeric, args.strict, terminal_style(args.unicode)))
    if errors:
        return EXIT_INPUT
    return EXIT_PASS if all(r.passed(args.allow_numeric, args.strict) for r in reports) else EXIT_FAIL


def _load_or_raise(names, include_all=False):
    derivations, errors = _select(names, include_all)
    if errors:
        raise errors[0][1]
    return derivations


def cmd_codegen(args) -> int:
    from pathlib import Path

    from .codegen import render
    from .output.files import write_atomically
    from .read import derivation_file

    from .codegen import render_numba

    replacements = [derivation_file.load(name) for name in args.files]
    directory = Path(args.output) if args.output else render.DEFAULT_DIRECTORY
    backend = args.backend or ("all" if args.check else "numpy")
    targets = [(name, directory / module.OUTPUT_NAME, module.render) for name, module in
               (("numpy", render), ("numba", render_numba)) if backend in (name, "all")]
    if args.check:
        stale = 0
        for name, target, build in targets:
            diff = render.difference(target, build(replacements))
            if diff:
                flag = "" if name == "numpy" else " --backend numba"
                say(f"{target} is stale or was edited by hand; run 'derive codegen{flag}' to regenerate.\n{diff}")
                stale += 1
            else:
                say(f"{target} is up to date")
        return EXIT_FAIL if stale else EXIT_PASS
    for name, target, build in targets:
        text = build(replacements)
        write_atomically(target, text)
        say(f"wrote {target} ({len(text.splitlines())} lines)")
        if name == "numba":
            _warm_after_codegen(target)
    return EXIT_PASS


def _warm_after_codegen(target) -> None:
    """Compile the numba module just written, so its user's first call does not pay for it; without numba,
    say how to get it (the file is written either way: it does not need numba to exist)."""
    from .codegen import warming

    if not warming.numba_available():
        say(f"numba is not installed, so {target} was not compiled ahead: pip install 'derive[fast]', then "
            f"derive warm")
        return
    seconds, count = warming.warm(target)
    say(f"compiled {count} kernel signatures into numba's cache in {seconds:.1f} s")


def cmd_warm(args) -> int:
    from pathlib import Path

    from .codegen import render, render_numba, warming

    target = Path(args.module) if args.module else render.DEFAULT_DIRECTORY / render_numba.OUTPUT_NAME
    seconds, count = warming.warm(target)
    say(f"{target}: {count} kernel signatures compiled or loaded from numba's cache in {seconds:.1f} s")
    return EXIT_PASS


def cmd_report(args) -> int:
    import datetime
    from pathlib import Path

    from .check.checker import check_derivation
    from .output import latex_build, measure
    from .output.report import Meta, Numerics, build_tex

    reports = [check_derivation(d) for d in _load_or_raise(args.names, include_all=True)]
    directory = Path(args.output) if args.output else Path("generated") / "report"
    numerics = None
    if (args.code or not args.names) and measure.GENERATED.exists():
        rows, fd = measure.measurements(measure.GENERATED, directory / "measurements.json")
        numerics = Numerics(rows, fd, measure.GENERATED.read_text())
    meta = Meta(title=_report_title(args.names, reports), date=datetime.date.today().isoformat(),
                version=__version__)
    tex = build_tex(reports, numerics, meta, code_missing=args.code or not args.names)
    if args.html:
        from .output.html import build_html
        from .output.files import write_atomically

        directory.mkdir(parents=True, exist_ok=True)
        page = directory / "report.html"
        write_atomically(page, build_html(reports, numerics, meta))
        say(f"wrote {page}")
    if args.no_pdf:
        say(f"wrote {latex_build.write_tex(directory, tex)}")
        return EXIT_PASS
    say(f"wrote {latex_build.compile_pdf(directory, tex)}")
    return EXIT_PASS


def _report_title(names, reports) -> str:
    """The report's title: the notes' subject for the built-ins, else what was checked."""
    if not names:
        return "A step-by-step check of the softmax cross-entropy gradient"
    if len(reports) == 1:
        return f"A step-by-step check of {reports[0].derivation.title}"
    files = [n for n in names if _is_file(n)]
    if len(files) == 1:
        from pathlib import Path

        return f"A step-by-step check of {Path(files[0]).name}"
    return f"A step-by-step check of {len(reports)} derivations"


COMMANDS = {"list": cmd_list, "check": cmd_check, "codegen": cmd_codegen, "report": cmd_report, "warm": cmd_warm}


def _terminate(_signum, _frame):
    raise Terminated()


def _unknown_leading_option(argv) -> str | None:
    """An option before the command that derive does not know (argparse would only say a command is missing)."""
    for arg in argv:
        if not arg.startswith("-"):
            return None
        if arg not in ("-h", "--help"):
            return arg
    return None


def main(argv=None) -> int:
    previous = signal.signal(signal.SIGTERM, _terminate)
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        bad = _unknown_leading_option(argv)
        if bad is not None:
            raise UsageError(f"unknown option '{bad}'; options go after the command, e.g. derive check --json "
                             "(see 'derive --help')")
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except DeriveError as exc:
        say(f"error: {exc}", sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        say("error: interrupted", sys.stderr)
        return 130
    except Terminated:
        say("error: terminated", sys.stderr)
        return 143
    except BrokenPipeError:  # `derive list | head`: the reader is gone; say nothing more, as cat would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
