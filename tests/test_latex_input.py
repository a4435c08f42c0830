"""Derivations written in LaTeX: the notes' files, other notations, findings, errors, round trip, fuzzing."""

import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.read import builtin, derivation_file
from derive.check.checker import check_derivation
from derive.read.derivation_file import parse
from derive.errors import DeriveError
from derive.errors import ParseError
from derive.read.latex import parse_expression
from derive.read.names import Names
from derive.codegen.lowering import canonical_sums
from derive.check.normal_form import rebuild
from derive.notation import E, K, c, gamma, i, j, k, m, mu, t, v, y, z
from derive.verdicts import Status

from reference import differ, value

HERE = Path(__file__).resolve().parent / "derivations"
FILES = builtin.notes()


def _same(a, b) -> bool:
    """Equal up to the names of bound indices and SymPy's automatic rearrangements."""
    def canonical(e):
        e = canonical_sums(rebuild(e))
        return e.replace(lambda x: isinstance(x, sp.Sum), lambda x: sp.Sum(sp.expand(x.function), *x.limits))
    return sp.expand(canonical(a) - canonical(b)) == 0


#: the assumptions each step of the notes needs, as the Python transcription (derive/notes.py, removed when the
#: files became the one source) computed them; the files must keep proving with exactly these
AS_BEFORE = {
    "jacobian": [(), ("index_range",), (), (), ("index_range",), (), ()],
    "route1": [(), ("index_range",), ("index_range",), (), ("index_range", "targets_sum_to_one"), ()],
    "route2": [(), (), (), (), (), ("index_range",), ("index_range",), (), (), ("targets_sum_to_one",), ("one_hot",)],
}


@pytest.mark.parametrize("name", ["jacobian", "route1", "route2"])
def test_notes_files_prove_as_before(name):
    parsed = check_derivation(FILES[name])
    assert [s.verdict.status for s in parsed.steps] == [Status.PROVED] * len(parsed.steps)
    assert [s.verdict.assumptions_used for s in parsed.steps] == AS_BEFORE[name]
    assert parsed.result.reached.status is Status.PROVED and parsed.result.rederived.status is Status.PROVED


def _check_file(name):
    return check_derivation(derivation_file.load(HERE / f"{name}.deriv"))


@pytest.mark.parametrize("name", ["po_notation", "indicator_label", "vector_form", "cases_in_sum"])
def test_other_notations_prove(name):
    report = _check_file(name)
    assert all(s.verdict.status is Status.PROVED for s in report.steps), [s.verdict.message for s in report.steps]
    assert report.result.rederived.status is Status.PROVED


def test_a_wrong_step_is_refuted_exactly_there():
    report = _check_file("wrong_step")
    assert [s.verdict.status for s in report.steps] == [Status.PROVED, Status.PROVED, Status.REFUTED, Status.PROVED]
    step = report.steps[2]
    cex = step.verdict.counterexample
    assert differ(value(step.previous[0], cex.point), value(step.step.expr, cex.point))


def test_cancelling_errors_are_caught_only_step_by_step():
    report = _check_file("cancelling_errors")
    statuses = [s.verdict.status for s in report.steps]
    assert statuses == [Status.PROVED, Status.REFUTED, Status.PROVED, Status.REFUTED]
    # start and end agree: an end-to-end check alone would pass
    assert report.result.rederived.status is Status.PROVED


HEADER = ("indices: i, j, k\nrange: 1..K\nresult: \\frac{\\partial E}{\\partial z_j} = y_j - t_j\n"
          "assume: \\sum_k t_k = 1\n")


def test_finding_letter_with_two_meanings():
    d = FILES["jacobian"]
    assert any("$z$ names both" in f.message for f in d.findings)


def test_finding_sum_without_a_range():
    text = HEADER.replace("range: 1..K\n", "").replace("\\sum_k t_k = 1", "\\sum_{k=1}^K t_k = 1")
    d = parse(text + "$$\\frac{\\partial E}{\\partial z_j} = y_j \\sum_k t_k - t_j$$\n", "f.deriv")
    assert any(f.kind == "range" and "sum over $k$ at line" in f.message for f in d.findings)


def test_finding_index_free_where_it_must_be_bound():
    literal = (r"$$\frac{\partial E}{\partial z_j} = \frac{\partial}{\partial z_j} \left[\sum_k^K t_k \ln \left("
               r"\sum_{i=1}^K e^{z_i} \right) - t_k z_k \right]$$" "\n")
    d = parse(HEADER + literal, "literal.deriv")
    assert any(f.kind == "scope" and "index $k$ is free" in f.message for f in d.findings)


def test_finding_index_bound_where_it_must_be_free():
    text = HEADER + "$$\\frac{\\partial E}{\\partial z_j} = \\sum_j (y_j - t_j)$$\n"
    d = parse(text, "bound.deriv")
    assert any(f.kind == "scope" and "bound where it must be free" in f.message for f in d.findings)


def test_finding_case_split_that_does_not_cover_all_cases():
    text = ("indices: i, j, k\nrange: 1..K\nresult: \\frac{\\partial y_k}{\\partial z_j} = y_k (\\delta_{jk} - y_j)\n"
            "$$\\frac{\\partial y_k}{\\partial z_k} = y_k (1 - y_k)$$ [case: j = k]\n"
            "$$\\frac{\\partial y_k}{\\partial z_j} = y_k (\\delta_{jk} - y_j)$$ [by: combine cases]\n")
    report = check_derivation(parse(text, "cases.deriv"))
    assert any(f.kind == "cases" and "does not cover j != k" in f.message for f in report.findings)


@pytest.mark.parametrize("text,line,marker,expected", [
    (HEADER + "$$\\frac{\\partial E}{\\partial z_j} = y_j - q_j$$\n", 5, "q_j", "unknown name 'q'"),
    (HEADER + "$$\\frac{\\partial E}{\\partial z_j} = (y_j - t_j$$\n", 5, "$$ (end)", "expected ')' to close '('"),
    (HEADER + "$$\\frac{\\partial E}{\\partial z_j} = y_j - t_j$$ [by: magic]\n", 5, None,
     "unknown justification 'magic'"),
    (HEADER + "colour: blue\n", 5, None, "unknown header key 'colour'"),
    (HEADER + "$$\\frac{\\partial E}{\\partial z_j} = \\sum y_j$$\n", 5, "\\sum", "needs its index"),
    (HEADER + "$$\\frac{\\partial E}{\\partial z_j} = z + 1$$\n", 5, "z +", "'z' is indexed"),
    (HEADER + "$$\\frac{\\partial E}{\\partial z_j} = \\foo_j$$\n", 5, "\\foo", "unknown command '\\foo'"),
    ("indices: i, j, k\n$$y_j = y_j$$\n", 1, None, "needs 'result:"),
])
def test_parse_errors_name_line_column_and_what_was_expected(text, line, marker, expected):
    source_line = text.split("\n")[line - 1]
    if marker == "$$ (end)":
        column = source_line.rindex("$$") + 1
    else:
        column = source_line.index(marker) + 1 if marker else 1
    with pytest.raises(ParseError) as err:
        parse(text, "bad.deriv")
    e = err.value
    assert (e.line, e.column) == (line, column), str(e)
    assert expected in str(e)
    assert str(e).startswith(f"bad.deriv:{line}:{column}: ")
    if "\n" in str(e):
        source, caret = str(e).splitlines()[1:3]
        assert caret.index("^") == column + 3  # the caret sits under the column


def test_cli_checks_files_and_reports_parse_errors(tmp_path):
    bad = tmp_path / "bad.deriv"
    bad.write_text(HEADER + "$$\\frac{\\partial E}{\\partial z_j} = y_j - q_j$$\n")
    run = subprocess.run([sys.executable, "-m", "derive", "check", str(bad)], capture_output=True, text=True)
    assert run.returncode == 3 and "bad.deriv:5:43: unknown name 'q'" in run.stderr and "^" in run.stderr
    assert "Traceback" not in run.stderr
    good = subprocess.run([sys.executable, "-m", "derive", "check", str(HERE / "wrong_step.deriv")],
                          capture_output=True, text=True)
    assert good.returncode == 1 and "refuted at K=" in good.stdout


# --- round trip: SymPy's LaTeX of the notation's expressions parses back -------------------------

ROUND_TRIP_NAMES = Names(indexed={"z": z, "t": t, "y": y, "v": v}, scalars={"K": K, "E": E, "m": m, "c": c},
                         indices={"i": i, "j": j, "k": k, r"\gamma": gamma, r"\mu": mu})


def _expressions():
    for derivation in builtin.everything().values():
        yield derivation.start
        yield derivation.result
        for step in derivation.steps:
            yield step.expr


@pytest.mark.parametrize("expr", list(_expressions()), ids=lambda e: sp.sstr(e)[:40])
def test_round_trip_through_sympy_latex(expr):
    text = sp.latex(rebuild(expr))
    assert _same(parse_expression(text, ROUND_TRIP_NAMES), expr), text


# --- fuzzing: never a hang, never a crash, every rejection a ParseError -----------------------------

PIECES = [r"\frac", r"\partial", r"\sum", "_", "^", "{", "}", "(", ")", r"\left(", r"\right)", "[", "]", "z", "t",
          "y", "E", "K", "j", "k", "i", "e", "1", "2", "+", "-", "=", "&", r"\\", r"\ln", r"\log", r"\exp",
          r"\delta", r"\cdot", r"\dots", r"\boxed", r"\vec", r"\begin{cases}", r"\end{cases}", r"\text{if }",
          r"\neq", r"\mathbb{1}", ",", "q", r"\gamma", r"\foo", " ", "%", "$$", "/"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30))
def test_parser_never_crashes_on_random_input(pieces):
    text = " ".join(pieces)
    try:
        parse_expression(text, ROUND_TRIP_NAMES)
    except ParseError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PIECES + ["\n", "name: x\n", "result: y_j = y_j\n", "range: 1..K\n",
                                          "[by: algebra]", "$$= y_j$$\n", "indices: i, j\n"]), max_size=25))
def test_file_loader_never_crashes_on_random_input(pieces):
    try:
        parse("".join(pieces), "fuzz.deriv")
    except DeriveError:
        pass


def test_deep_nesting_is_a_parse_error_not_a_crash():
    with pytest.raises(ParseError, match="nested too deeply"):
        parse_expression("(" * 3000 + "z_k" + ")" * 3000, ROUND_TRIP_NAMES)


def test_cli_exit_codes_for_a_step_that_only_holds_numerically(tmp_path):
    # without 'range: 1..K' nothing says j lies in 1..K, so the delta cannot be sifted: numeric only
    text = ("indices: i, j, k\nresult: \\frac{\\partial y_k}{\\partial z_j} = y_k (\\delta_{jk} - y_j)\n"
            "$$\\frac{\\partial y_k}{\\partial z_j} = y_k (\\delta_{jk} - y_j)$$ [by: quotient rule]\n")
    path = tmp_path / "numeric.deriv"
    path.write_text(text)
    strict = subprocess.run([sys.executable, "-m", "derive", "check", str(path)], capture_output=True, text=True)
    assert strict.returncode == 1 and "numeric" in strict.stdout and "index_range" in strict.stdout
    lenient = subprocess.run([sys.executable, "-m", "derive", "check", "--allow-numeric", str(path)],
                             capture_output=True, text=True)
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
