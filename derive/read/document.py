"""Whole documents as input: the math of a Markdown or LaTeX file, with exact positions.

A document is split into fragments, in order: display math (``$$...$$``,
fenced ``math`` blocks, ``\\[...\\]``, ``equation``, ``align``, ``gather`` ...),
inline math (``$...$``, ``\\(...\\)``) and the prose between them.  Nothing is
interpreted here; positions (line, column) are those of the original file, so
every later error and finding points into it.  Optional front matter (a
``---`` block of ``key: value`` lines in Markdown, a leading block of ``%
key: value`` comment lines in LaTeX) carries the header keys of a derivation
file for what inference cannot settle.

Markdown blockquote markers (``> ``) are blanked, not removed, and LaTeX
comments are blanked, so columns stay those of the file.  ``\\label``,
``\\tag``, ``\\nonumber``, ``\\notag`` and spacing such as ``\\\\[1.6em]`` are
blanked inside math: they number or space equations, they say nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ParseError

#: display environments whose content is math (the environment itself is blanked)
DISPLAY_ENVIRONMENTS = ("equation", "equation*", "align", "align*", "gather", "gather*", "multline", "multline*",
                        "flalign", "flalign*", "eqnarray", "eqnarray*", "displaymath", "math")
#: file suffixes read as documents (anything else with a .deriv suffix is a derivation file)
MARKDOWN = (".md", ".markdown", ".mdown", ".mkd")
LATEX = (".tex", ".latex", ".ltx")


@dataclass(frozen=True)
class Fragment:
    """A piece of the document: display or inline math, or prose."""

    kind: str  # "display", "inline" or "prose"
    text: str
    line: int  # of its first character
    column: int
    #: text after the display on the same line (an annotation such as [by: ...])
    after: str = ""


def is_document(path: str) -> bool:
    return str(path).lower().endswith(MARKDOWN + LATEX)


def _blank(text: str, start: int, end: int) -> str:
    """text with [start, end) replaced by spaces (newlines kept): positions of everything else stay."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


_NOISE = re.compile(r"\\(?:label|tag\*?|eqref|ref)\s*\{[^{}\n]*\}|\\(?:nonumber|notag)\b|(?<=\\\\)\s*\[[^\]\n]{0,12}\]")


def clean_math(text: str) -> str:
    """Equation numbering and line spacing blanked (same length, so positions hold)."""
    return _NOISE.sub(lambda m: " " * len(m.group(0)), text)


def _front_matter(text: str, latex: bool) -> tuple[list[tuple[str, str, int, int]], str]:
    """(header lines as (key, value, line, column), the text with the front matter blanked)."""
    lines = text.split("\n")
    header = []
    if not latex and lines and lines[0].strip() == "---":
        for n in range(1, len(lines)):
            if lines[n].strip() in ("---", "..."):
                for m in range(1, n):
                    raw = lines[m]
                    if raw.strip() and not raw.lstrip().startswith("#"):
                        if ":" not in raw:
                            raise ParseError("front matter lines are 'key: value'", m + 1, 1, raw)
                        key, value = raw.split(":", 1)
                        header.append((key.strip().lower(), value.strip(), m + 1,
                                       raw.index(":") + 2 + len(value) - len(value.lstrip())))
                end = sum(len(x) + 1 for x in lines[:n + 1])
                return header, _blank(text, 0, end)
        raise ParseError("the front matter ('---') is never closed", 1, 1, lines[0])
    if latex:
        n = 0
        while n < len(lines) and re.match(r"\s*%\s*[A-Za-z][A-Za-z ]*:", lines[n]):
            raw = lines[n]
            body = raw.split("%", 1)[1]
            key, value = body.split(":", 1)
            header.append((key.strip().lower(), value.strip(), n + 1,
                           raw.index(":") + 2 + len(value) - len(value.lstrip())))
            n += 1
    return header, text


def _strip_markdown_noise(text: str) -> str:
    """Blockquote markers and code blocks blanked; fenced ```math blocks kept as $$ displays."""
    out = []
    fence = None
    for line in text.split("\n"):
        quoted = re.match(r"^(\s{0,3}(?:>\s?)+)", line)
        if quoted:
            line = " " * len(quoted.group(1)) + line[len(quoted.group(1)):]
        opening = re.match(r"^\s*(```+|~~~+)\s*([A-Za-z]*)", line)
        if fence is None and opening:
            fence = (opening.group(1), opening.group(2).lower())
            marker = opening.group(1) + opening.group(2)
            out.append(re.sub(r"[^\s]", " ", line) if fence[1] != "math" else
                       line.replace(marker, "$$" + " " * (len(marker) - 2), 1))
            continue
        if fence is not None:
            if line.strip().startswith(fence[0]):
                out.append(line.replace(fence[0], "$$" + " " * (len(fence[0]) - 2), 1) if fence[1] == "math"
                           else " " * len(line))
                fence = None
            else:
                out.append(line if fence[1] == "math" else " " * len(line))
            continue
        out.append(line)
    return "\n".join(out)


def _strip_latex_comments(text: str) -> str:
    def blank(line):
        for match in re.finditer("%", line):
            before = line[:match.start()]
            if (len(before) - len(before.rstrip("\\"))) % 2 == 0:
                return line[:match.start()] + " " * (len(line) - match.start())
        return line

    return "\n".join(blank(line) for line in text.split("\n"))


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


_DISPLAY_OPEN = re.compile(r"\$\$|\\\[|\\begin\{(" + "|".join(re.escape(e) for e in DISPLAY_ENVIRONMENTS) + r")\}")


def fragments(text: str, path: str = "<input>") -> tuple[list, list[Fragment]]:
    """(front-matter header lines, the document's fragments in order)."""
    latex = str(path).lower().endswith(LATEX)
    header, text = _front_matter(text, latex)
    if latex:
        text = _strip_latex_comments(text)
        begin = text.find("\\begin{document}")
        if begin >= 0:
            text = _blank(text, 0, begin + len("\\begin{document}"))
        end = text.find("\\end{document}")
        if end >= 0:
            text = text[:end]
    else:
        text = _strip_markdown_noise(text)
    out: list[Fragment] = []
    pos = 0
    while pos < len(text):
        match = _DISPLAY_OPEN.search(text, pos)
        stop = match.start() if match else len(text)
        _inline_and_prose(text, pos, stop, out)
        if not match:
            break
        if match.group(0) == "$$":
            close, skip = text.find("$$", match.end()), 2
        elif match.group(0) == "\\[":
            close, skip = text.find("\\]", match.end()), 2
        else:
            marker = f"\\end{{{match.group(1)}}}"
            close, skip = text.find(marker, match.end()), len(marker)
        if close < 0:
            line, column = _position(text, match.start())
            raise ParseError(f"this '{match.group(0)}' is never closed", line, column,
                             text.split("\n")[line - 1], path)
        body_start = match.end()
        line, column = _position(text, body_start)
        end_of_line = text.find("\n", close + skip)
        after = text[close + skip:end_of_line if end_of_line >= 0 else len(text)].strip()
        out.append(Fragment("display", clean_math(text[body_start:close]), line, column,
                            after if after.startswith("[") else ""))
        pos = close + skip
        if after.startswith("["):
            pos = end_of_line if end_of_line >= 0 else len(text)
    return header, out


_INLINE = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$(?!\$)|\\\((.+?)\\\)", re.DOTALL)


def _inline_and_prose(text: str, start: int, stop: int, out: list) -> None:
    pos = start
    for match in _INLINE.finditer(text, start, stop):
        if "\n\n" in match.group(0):  # math does not run across paragraphs
            continue
        if match.start() > pos:
            _prose(text, pos, match.start(), out)
        body = match.group(1) if match.group(1) is not None else match.group(2)
        body_start = match.start(1) if match.group(1) is not None else match.start(2)
        line, column = _position(text, body_start)
        out.append(Fragment("inline", clean_math(body), line, column))
        pos = match.end()
    if pos < stop:
        _prose(text, pos, stop, out)


def _prose(text: str, start: int, stop: int, out: list) -> None:
    chunk = text[start:stop]
    if chunk.strip():
        line, column = _position(text, start)
        out.append(Fragment("prose", chunk, line, column))
