"""Tokens of LaTeX math, and a cursor over them that reports errors at their position.

The tokenizer splits a formula into commands (\\frac), single letters, numbers
and characters, drops spacing commands and stops a line at a % comment; every
token keeps its line and column in the user's file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ParseError


@dataclass(frozen=True)
class Token:
    kind: str  # "cmd", "char", "num", "letter", "end"
    text: str
    line: int
    column: int


_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|[0-9]+(?:\.[0-9]+)?|[A-Za-z]|\S")
_IGNORED = {r"\quad", r"\qquad", r"\,", r"\;", r"\:", r"\!", "\\ ", r"\displaystyle", r"\therefore", r"\nonumber",
            r"\limits", r"\relax"}
_SIZED = {r"\left", r"\right", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr", r"\biggl", r"\biggr"}


def tokenize(text: str, line: int = 1, column: int = 1) -> list[Token]:
    """Tokens of a LaTeX math string; positions are 1-based and relative to the file."""
    tokens = []
    lines = text.split("\n")
    for row, content in enumerate(lines):
        base_col = column if row == 0 else 1
        for m in _TOKEN.finditer(content):
            tok = m.group(0)
            if tok == "%":  # a LaTeX comment ends the line
                break
            kind = ("cmd" if tok.startswith("\\") else "num" if tok[0].isdigit()
                    else "letter" if tok.isalpha() else "char")
            if tok in _IGNORED:
                continue
            tokens.append(Token(kind, tok, line + row, base_col + m.start()))
    tokens = _without_spacing(tokens)
    last_line = line + len(lines) - 1
    last_col = (column if len(lines) == 1 else 1) + len(lines[-1])
    tokens.append(Token("end", "end of formula", last_line, last_col))
    return tokens


#: spacing and invisible boxes that take an argument (\hspace{0.5in}, \phantom{x}, \kern3mu): read past
_SPACING_WITH_ARGUMENT = {r"\hspace", r"\vspace", r"\phantom", r"\hphantom", r"\vphantom", r"\kern", r"\mkern",
                          r"\mspace", r"\hskip", r"\mskip"}


def _without_spacing(tokens: list[Token]) -> list[Token]:
    out, n = [], 0
    while n < len(tokens):
        if tokens[n].text == "\\\\" and n + 1 < len(tokens) and tokens[n + 1].text == "[":
            close = next((m for m in range(n + 2, min(n + 8, len(tokens))) if tokens[m].text == "]"), None)
            inside = tokens[n + 2:close] if close is not None else []
            if inside and inside[inside[0].text == "-":][:1] and inside[inside[0].text == "-"].kind == "num" \
                    and all(t.kind in ("num", "letter") or t.text in (".", "-") for t in inside):
                out.append(tokens[n])  # \\[1.6em]: a line break with extra space; the space is not math
                n = close + 1
                continue
        if tokens[n].text not in _SPACING_WITH_ARGUMENT:
            out.append(tokens[n])
            n += 1
            continue
        n += 1
        if n < len(tokens) and tokens[n].text == "*":
            n += 1
        if n < len(tokens) and tokens[n].text == "{":
            depth = 0
            while n < len(tokens):
                depth += tokens[n].text == "{"
                depth -= tokens[n].text == "}"
                n += 1
                if depth == 0:
                    break
        else:  # \kern3mu, \hskip 2pt: a number and a unit
            if n < len(tokens) and tokens[n].text == "-":
                n += 1
            if n < len(tokens) and tokens[n].kind == "num":
                n += 1
            while n < len(tokens) and tokens[n].kind == "letter" and len(out) and n < len(tokens):
                n += 1
                if n < len(tokens) and tokens[n - 1].column + 1 != tokens[n].column:
                    break
    return out


#: sizing commands before delimiters: read past, they change nothing
SIZES = {r"\big", r"\Big", r"\bigg", r"\Bigg"}


class Cursor:
    """A position in a token list; `error` builds a ParseError pointing at a token of the user's file."""

    def __init__(self, text: str, line: int = 1, column: int = 1, path: str = "<input>",
                 source_lines: list[str] | None = None):
        self.tokens = tokenize(text, line, column)
        self.pos = 0
        self.path = path
        self.source_lines = source_lines or text.split("\n")
        self.first_line = line if source_lines is None else 1

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, n=1) -> Token:
        return self.tokens[min(self.pos + n, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tok
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return tok

    def error(self, message: str, tok: Token | None = None) -> ParseError:
        tok = tok or self.tok
        index = tok.line - self.first_line
        source = self.source_lines[index] if 0 <= index < len(self.source_lines) else ""
        return ParseError(message, tok.line, tok.column, source, self.path)

    def expect(self, text: str) -> Token:
        if self.tok.text != text:
            raise self.error(f"expected '{text}', found '{self.tok.text}'")
        return self.advance()

    def at(self, *texts) -> bool:
        return self.tok.text in texts

    def skip_sizing(self) -> None:
        while self.tok.text in _SIZED or self.tok.text in SIZES:
            self.advance()

    def braced_word(self) -> str:
        self.expect("{")
        word = ""
        while not self.at("}"):
            if self.tok.kind == "end":
                raise self.error("unclosed '{'")
            word += self.advance().text
        self.advance()
        return word
