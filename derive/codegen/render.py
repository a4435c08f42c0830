"""Code generation: proved kernels -> lowered NumPy -> ``generated/softmax_ce.py``.

``render()`` is pure: it builds the kernels from the derivations, refuses any
kernel the checker does not prove, lowers each to NumPy statements and fills
``templates/softmax_ce.py.j2`` (jinja2, StrictUndefined), which holds only the
file's skeleton: header, imports, input checks, the loop over row blocks,
signatures and docstrings.  Writing files is the CLI's job (through
``output_files.write_atomically``); ``difference`` compares.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path

import jinja2
import sympy as sp

from .. import resources
from ..errors import CodegenError, LoweringError
from ..notation import gamma, j, k, m, mu, t, v, y, z
from ..verdicts import Status
from . import kernels as kernel_module
from . import loops
from .kernels import Kernel
from .lowering import Emitter, Operand, canonical_sums
from .matrix import matrix_code

TEMPLATE = "softmax_ce.py.j2"
OUTPUT_NAME = "softmax_ce.py"
#: where `derive codegen` writes unless told otherwise (relative to the current directory)
DEFAULT_DIRECTORY = Path("generated")

_INPUT_BASES = {"z": z, "t": t, "v": v, "y": y}


@dataclass(frozen=True)
class RenderedKernel:
    name: str
    signature: str
    doc: list
    body: list


def derivation_hash(derivation) -> str:
    """A content hash of a derivation: of the file it was read from, else of everything the checker reads."""
    if derivation.digest:
        return derivation.digest
    parts = [derivation.name, sp.srepr(derivation.start), sp.srepr(derivation.result)]
    for step in derivation.steps:
        parts += [sp.srepr(step.expr), step.latex, step.justification, repr(step.case), repr(step.assumptions),
                  sp.srepr(step.lhs) if step.lhs is not None else ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _render_kernel(kernel: Kernel, derivations: dict) -> RenderedKernel:
    verdict = proved(kernel)
    args = list(kernel.inputs) + ["out"]
    head = "y" if "z" not in kernel.inputs else "z"
    body: list[str] = []
    if kernel.output == "matrix":
        body += matrix_code(kernel.expr, j, k, {y: "y"})
    else:
        bindings = {_INPUT_BASES[name]: Operand(name, "vec") for name in kernel.inputs if name in _INPUT_BASES}
        labels = {}
        if "gamma" in kernel.inputs:
            body.append(f"gamma_flat = gamma + np.arange({head}.shape[0]) * {head}.shape[1]")
            labels[gamma] = "gamma_flat"
        if any(mu in e.free_symbols for e in kernel.exprs) or kernel.shifted:
            body.append("mu_flat = np.argmax(z, axis=-1) + np.arange(z.shape[0]) * z.shape[1]  # z_mu = max_k z_k")
            labels[mu] = "mu_flat"
        if kernel.shifted:
            body.append("m = z.reshape(-1)[mu_flat].reshape(-1, 1)  # m = z_mu")
            bindings[m] = Operand("m", "row")
        expr = canonical_sums(kernel.expr)
        scatter = canonical_sums(kernel.scatter) if kernel.scatter is not None else None
        returns = canonical_sums(kernel.returns) if kernel.returns is not None else None
        emitter = Emitter(kernel.class_index, bindings, labels, shift=m if kernel.shifted else None, head=head)
        emitter.count_uses([e for e in (expr, scatter, returns) if e is not None])
        try:
            # row results first (they share sums with the vector), so the vector's last read is the final op
            value = emitter.lower(scatter) if scatter is not None else None
            returned = emitter.lower(returns) if returns is not None else None
            emitter.lower(expr, into="out")
            if value is not None:
                emitter.lines.append(f"out.reshape(-1)[gamma_flat] = {_current(value)}[:, 0]  # the label entry")
        except LoweringError as exc:
            raise CodegenError(f"kernel {kernel.name}: {exc}") from None
        body += emitter.pool.allocation_lines() + emitter.lines
        if returned is not None:
            body.append(f"return {_current(returned)}")
    return RenderedKernel(kernel.name, ", ".join(args), kernel_doc(kernel, verdict, derivations), body)


#: the kernels that also get a Python-float version for tiny inputs (`_TINY` in the runtime)
TINY_KERNELS = ("_softmax_shifted", "_log_softmax", "_cross_entropy_label", "_gradient_label_shifted")


def loop_kernel(kernel: Kernel, derivations: dict, dialect, suffix: str = "") -> RenderedKernel:
    """A proved kernel lowered to loops (loops.NUMBA: the numba module; loops.PYTHON: Python floats)."""
    verdict = proved(kernel)
    scatter = canonical_sums(kernel.scatter) if kernel.scatter is not None else None
    try:
        loop = loops.lower(kernel, canonical_sums(kernel.expr), scatter, dialect)
    except LoweringError as exc:
        raise CodegenError(f"kernel {kernel.name}: {exc}") from None
    return RenderedKernel(kernel.name + suffix, loop.signature, kernel_doc(kernel, verdict, derivations),
                          loop.body)


def proved(kernel: Kernel):
    """The checker's verdict on a kernel; a kernel that is not proved stops codegen."""
    verdict = kernel_module.prove(kernel)
    if verdict.status is not Status.PROVED:
        raise CodegenError(f"kernel {kernel.name} is not proved ({verdict.status.value}): {verdict.message}")
    return verdict


def kernel_doc(kernel: Kernel, verdict, derivations: dict) -> list[str]:
    """A kernel's docstring lines: what it computes, the derivation steps that prove it, the verdict."""
    doc = [f"{sp.sstr(kernel.claim)} = {sp.sstr(kernel.expr)}" + (
        f"; at the label: {sp.sstr(kernel.scatter)}" if kernel.scatter is not None else "")]
    doc += [f"Lowered from {kernel_module.describe(src, derivations)}" for src in kernel.sources]
    doc.append(f"Checker: {verdict.status.value}, assumptions used: {', '.join(verdict.assumptions_used) or 'none'}")
    return [docstring_line(line) for line in doc]


def _current(op: Operand) -> str:
    """The name an operand's value goes by at the end of the kernel."""
    return op.buffer.name if op.buffer is not None else op.code


def undefined_names(module_text: str) -> list[str]:
    """Names a function of the generated module reads that nothing defines (a broken tie between the
    lowering, the runtime and the template would show here, before the file is written)."""
    tree = ast.parse(module_text)
    defined = set(dir(builtins))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
    missing = set()
    for function in [n for n in tree.body if isinstance(n, ast.FunctionDef)]:
        local = {a.arg for a in function.args.args + function.args.kwonlyargs}
        local |= {a.arg for a in (function.args.vararg, function.args.kwarg) if a is not None}
        local |= {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        local |= {n.name for n in ast.walk(function) if isinstance(n, ast.FunctionDef)}
        local |= {a.arg for n in ast.walk(function) if isinstance(n, (ast.Lambda, ast.FunctionDef))
                  for a in n.args.args}
        for n in ast.walk(function):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in local | defined:
                missing.add(f"{function.name}: {n.id}")
    return sorted(missing)


def docstring_line(text: str) -> str:
    """A line that cannot end or escape the docstring it stands in: printable ASCII, no triple quote,
    no trailing backslash.  The lines are printed from parsed expressions; this is the second fence."""
    text = "".join(ch if " " <= ch <= "~" else f"<U+{ord(ch):04X}>" for ch in text)
    return text.replace('"""', "'''").rstrip("\\")


def render(replacements=()) -> str:
    """The generated module's text (pure; byte-for-byte reproducible).

    ``replacements``: derivations (read from files) used instead of the built-in ones of the same name.
    """
    derivations = kernel_module.derivations(replacements)
    kernels = kernel_module.build_kernels(derivations)
    rendered = [_render_kernel(kern, derivations) for kern in kernels]
    tiny = [loop_kernel(kern, derivations, loops.PYTHON, suffix="_py") for kern in kernels
            if kern.name in TINY_KERNELS]
    return fill_template(TEMPLATE, kernels, derivations, kernels=rendered, tiny_kernels=tiny,
                         runtime=runtime_source())


def fill_template(name: str, sources, derivations: dict, **values) -> str:
    """A generated module's text from its template: the header's derivations with their hashes, each
    kernel's citations (`sources`: the Kernel objects), and `values`; refused if it would read a name nothing
    defines."""
    used = sorted({src.derivation for kern in sources for src in kern.sources})
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                             lstrip_blocks=True)
    template = env.from_string(resources.template(name))
    cites = {kern.name: [docstring_line(kernel_module.describe(src, derivations)) for src in kern.sources]
             for kern in sources}
    text = template.render(
        cites=cites,
        derivations=[(used_name, docstring_line(derivations[used_name].path or "(built in code)"),
                      derivation_hash(derivations[used_name])) for used_name in used],
        template=f"templates/{name}",
        **values,
    )
    missing = undefined_names(text)
    if missing:
        raise CodegenError("the generated module would read undefined names: " + ", ".join(missing))
    return text


#: the line in runtime.py after which its text is copied into the generated module
RUNTIME_MARKER = "# --- copied into the generated module from here ---\n"


def runtime_source(module: str = "runtime.py") -> str:
    """A runtime module's code (below its marker line), copied verbatim into the generated module."""
    text = (Path(__file__).parent / module).read_text(encoding="utf-8")
    if RUNTIME_MARKER not in text:
        raise CodegenError(f"derive/codegen/{module} lost its marker line; nothing to copy")
    return text.split(RUNTIME_MARKER, 1)[1].strip()


def difference(path: Path, text: str) -> str:
    """'' when path holds exactly text, else a short unified diff (or why it is missing)."""
    if not path.exists():
        return f"{path} does not exist"
    current = path.read_text(encoding="utf-8")
    if current == text:
        return ""
    diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(), f"{path} (on disk)",
                                     f"{path} (as derive codegen would write it)", lineterm="", n=1))
    shown = diff[:40]
    more = len(diff) - len(shown)
    return "\n".join(shown) + (f"\n... {more} more diff lines" if more > 0 else "")
