"""Hostile derivation files: payloads that tried to read files into the PDF, forge the verdict marks,
loop TeX forever or run Python from the generated module, and where they were put.

``@SECRET@`` is replaced by the path of a file outside the input whose text must never reach the
PDF, ``@MARKER@`` by the path of a file that must never be created (see ``fill``).
"""

from __future__ import annotations

#: TeX payloads: read a file, forge a mark, loop, change how TeX reads the rest
TEX_PAYLOADS = [
    r"\input{@SECRET@}",
    r"\lstinputlisting{@SECRET@}",
    r"\openin5=@SECRET@ \read5 to\x \x",
    r"\csname input\endcsname{@SECRET@}",
    r"^^5cinput{@SECRET@}",
    r"\catcode`\|=0 |input{@SECRET@}",
    r"\gdef\checkmark{FORGED}",
    r"\def\x{\x}\x",
    r"\end{document}",
    r"\immediate\write18{touch @MARKER@}",
    r"\include{@SECRET@}",
    r"\verbatiminput{@SECRET@}",
    r"}} \input{@SECRET@} {{",
]

#: Python payloads aimed at the generated module's docstrings and comments
PYTHON_PAYLOADS = [
    '""" ; __import__("os").system("touch @MARKER@") ; r"""',
    "''' ; __import__('os').system('touch @MARKER@') ; '''",
    '\\""" ; open("@MARKER@", "w") ; """',
]

#: prose that once broke the report although check accepted it
AWKWARD_PROSE = ["50% of t_k & z_j #1 {x} ~ ^ \\ $ | <a>", "α Σ ∂ é ü ß — עברית 😀", "$y_k$ and $\\sigma$"]

#: formulas with a payload where the parser must refuse them (each is a step's right side)
FORMULA_PAYLOADS = [
    r"y_j - t_j \input{@SECRET@}",
    r"\text{\input{@SECRET@}} y_j",
    r"E(\vec{y}, \input{@SECRET@}) - t_j",
    r"\begin{cases} y_j & \text{if } j = k \\ 0 & \text{otherwise} \end{document}",
    r"\operatorname{\input{@SECRET@}}(y_j)",
    r"y_j^^5c - t_j",
    r"y_j - t_j \gdef\checkmark{FORGED}",
]


def fill(text: str, secret, marker) -> str:
    return text.replace("@SECRET@", str(secret)).replace("@MARKER@", str(marker))


def everywhere(payload: str) -> str:
    """route1 of the notes with the payload in every prose field and after a % in every formula line.

    Named route1, so that `derive codegen FILE` takes it in place of the built-in route1 (the
    generated module cites it); every step still parses and is proved.
    """
    prose = payload.replace("\n", " ")
    comment = f" % {prose}"
    return "\n".join([
        "name: route1",
        f"title: Route 1 $y_j - t_j$ {prose[:60]}",  # paths are filled in later: stay under 300
        f"source: {prose}",
        "indices: i, j, k, \\gamma",
        "range: 1..K",
        f"define: y_k = \\frac{{e^{{z_k}}}}{{\\sum_{{i=1}}^K e^{{z_i}}}}{comment}",
        f"define: E = - \\sum_{{k=1}}^K t_k \\ln y_k{comment}",
        f"let: S = \\sum_j e^{{z_j}}{comment}",
        f"assume: \\sum_k t_k = 1{comment}",
        f"result: \\frac{{\\partial E}}{{\\partial z_j}} = y_j - t_j{comment}",
        f"finding: notation: {prose}",
        f"finding: {prose} $\\frac{{a}}{{b}}$ ${prose}$",
        "",
        "$$\\frac{\\partial E}{\\partial z_j} = \\sum_{k=1}^K \\frac{\\partial E}{\\partial y_k} "
        f"\\frac{{\\partial y_k}}{{\\partial z_j}}{comment}",
        "$$ [by: chain rule]",
        f"$$= - \\sum_{{k=1}}^K t_k (\\delta_{{jk}} - y_j){comment}",
        "$$ [by: substitution]",
        f"$$= y_j - t_j$$ [by: kronecker delta sifts]{comment}",
        "",
    ])


def with_formula(formula: str) -> str:
    return ("indices: i, j, k\nrange: 1..K\nassume: \\sum_k t_k = 1\n"
            "result: \\frac{\\partial E}{\\partial z_j} = y_j - t_j\n"
            f"$$\\frac{{\\partial E}}{{\\partial z_j}} = {formula}$$\n")
