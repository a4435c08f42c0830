"""Code generation for the numba backend: proved kernels -> fused loops -> ``generated/softmax_ce_numba.py``.

The same kernels as the NumPy module, from the same derivations, each proved by
the checker before a line is written (``render.proved``); they are lowered to
loop nests by ``loops.py`` instead of ufunc passes.  Only the kernels that are
safe for every finite input are used (shifted by the row maximum): in a fused
loop the row maximum costs one cheap pass, so the NumPy module's unshifted fast
path would buy nothing.  The file holds the NumPy runtime's input checks
(verbatim, so both modules accept and reject exactly the same input) and the
numba runtime (``runtime_numba.py``, verbatim).  Pure, like ``render.render``.
"""

from __future__ import annotations

import jinja2

from .. import resources
from ..errors import CodegenError
from . import kernels as kernel_module
from .loops import lower
from .lowering import canonical_sums
from .render import (
    RenderedKernel,
    derivation_hash,
    docstring_line,
    kernel_doc,
    proved,
    runtime_source,
    undefined_names,
)

TEMPLATE = "softmax_ce_numba.py.j2"
OUTPUT_NAME = "softmax_ce_numba.py"

#: the kernels the numba module uses (the others are the NumPy module's unshifted fast paths)
KERNELS = ("_softmax_shifted", "_log_softmax", "_cross_entropy_soft", "_cross_entropy_label",
           "_gradient_label_shifted", "_gradient_soft", "_softmax_vjp", "_softmax_jacobian")


def _render_kernel(kernel, derivations: dict) -> RenderedKernel:
    verdict = proved(kernel)
    scatter = canonical_sums(kernel.scatter) if kernel.scatter is not None else None
    try:
        loop = lower(kernel, canonical_sums(kernel.expr), scatter)
    except Exception as exc:  # noqa: BLE001 (LoweringError or a SymPy failure: name the kernel)
        raise CodegenError(f"kernel {kernel.name}: {exc}") from None
    return RenderedKernel(kernel.name, loop.signature, kernel_doc(kernel, verdict, derivations), loop.body)


def render(replacements=()) -> str:
    """The numba module's text (pure; byte-for-byte reproducible)."""
    derivations = kernel_module.derivations(replacements)
    kernels = [kern for kern in kernel_module.build_kernels(derivations) if kern.name in KERNELS]
    rendered = [_render_kernel(kern, derivations) for kern in kernels]
    used = sorted({src.derivation for kern in kernels for src in kern.sources})
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
                             lstrip_blocks=True)
    template = env.from_string(resources.template(TEMPLATE))
    cites = {kern.name: [docstring_line(kernel_module.describe(src, derivations)) for src in kern.sources]
             for kern in kernels}
    text = template.render(
        runtime=runtime_source(),
        runtime_numba=runtime_source("runtime_numba.py"),
        kernels=rendered,
        cites=cites,
        derivations=[(name, docstring_line(derivations[name].path or "(built in code)"),
                      derivation_hash(derivations[name])) for name in used],
        template=f"templates/{TEMPLATE}",
    )
    missing = undefined_names(text)
    if missing:
        raise CodegenError("the generated module would read undefined names: " + ", ".join(missing))
    return text
