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

from . import kernels as kernel_module
from . import loops
from .render import fill_template, loop_kernel, runtime_source

TEMPLATE = "softmax_ce_numba.py.j2"
OUTPUT_NAME = "softmax_ce_numba.py"

#: the kernels the numba module uses (the others are the NumPy module's unshifted fast paths)
KERNELS = ("_softmax_shifted", "_log_softmax", "_cross_entropy_soft", "_cross_entropy_label",
           "_gradient_label_shifted", "_gradient_soft", "_softmax_vjp", "_softmax_jacobian")


#: the kernels that also get a rows-as-lanes version, for many short rows (_LANES_K in the runtime), and
#: versions for float32 results (the ones that sum exponentials: cheaper exp and sums suffice there)
LANES_KERNELS = ("_softmax_shifted", "_log_softmax", "_cross_entropy_soft", "_cross_entropy_label",
                 "_gradient_label_shifted")


def render(replacements=()) -> str:
    """The numba module's text (pure; byte-for-byte reproducible)."""
    derivations = kernel_module.derivations(replacements)
    kernels = [kern for kern in kernel_module.build_kernels(derivations) if kern.name in KERNELS]
    # a kernel with a float32-results twin is only ever given a float64 out
    rendered = [loop_kernel(kern, derivations, loops.NUMBA_DOUBLE if kern.name in LANES_KERNELS else loops.NUMBA)
                for kern in kernels]
    for dialect, suffix in ((loops.LANES, "_lanes"), (loops.NUMBA_SINGLE, "_single"),
                            (loops.LANES_SINGLE, "_lanes_single")):
        rendered += [loop_kernel(kern, derivations, dialect, suffix=suffix) for kern in kernels
                     if kern.name in LANES_KERNELS]
    return fill_template(TEMPLATE, kernels, derivations, kernels=rendered, runtime=runtime_source(),
                         runtime_numba=runtime_source("runtime_numba.py"))
