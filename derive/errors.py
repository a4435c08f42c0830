"""The exceptions `derive` raises on bad input, in one small tree.

The CLI catches :class:`DeriveError` once and prints its message; every
message names what is wrong and where (derivation, step, file position), so a
user can act on it without reading a traceback.  Each class carries the exit
code the CLI returns for it:

* 1: a check failed, or an output (generated code, report) could not be made;
* 2: the command line is wrong (unknown flag, unknown derivation name);
* 3: an input is missing or malformed (a file that cannot be read, a parse
  error, an undefined symbol).
"""

from __future__ import annotations


class DeriveError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""

    exit_code = 1


class UsageError(DeriveError):
    """The command line itself is wrong (unknown derivation name, bad flag)."""

    exit_code = 2


class InputError(DeriveError):
    """An input file is missing, unreadable, too large, not a regular file or malformed."""

    exit_code = 3


class DerivationError(InputError):
    """A derivation is malformed: an undefined symbol, an unknown justification..."""

    def __init__(self, derivation: str, step: int | None, problem: str):
        self.derivation = derivation
        self.step = step
        self.problem = problem
        where = f"derivation '{derivation}'"
        if step is not None:
            where += f", step {step}"
        super().__init__(f"{where}: {problem}")


class EvaluationError(DeriveError):
    """A numeric evaluation cannot proceed (unknown name, index out of range...)."""


class OutputError(DeriveError):
    """Writing an output (generated code, report) failed; nothing was half-written."""


#: at most this many characters of the offending line are echoed around the column
ECHO_WIDTH = 100


class ParseError(InputError):
    """A position in the input, what was found there and what was expected."""

    def __init__(self, message: str, line: int, column: int, source_line: str = "", path: str = "<input>"):
        self.line, self.column, self.path, self.problem = line, column, path, message
        caret = ""
        if source_line:
            start = max(0, column - 1 - ECHO_WIDTH // 2)
            shown = source_line[start:start + ECHO_WIDTH]
            before = "..." if start else ""
            after = "..." if start + ECHO_WIDTH < len(source_line) else ""
            caret = f"\n    {before}{shown}{after}\n    {' ' * (len(before) + column - 1 - start)}^"
        super().__init__(f"{path}:{line}:{column}: {message}{caret}")


class CodegenError(DeriveError):
    """A kernel could not be built, proved or lowered; nothing is written."""


class LoweringError(CodegenError):
    """An expression the lowering cannot turn into array code (never half code)."""


class TexError(DeriveError):
    """TeX is missing, or the document did not compile (the message holds the log excerpt)."""
