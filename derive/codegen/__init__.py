"""Code generation: kernels built from proved expressions, lowered to array code, rendered into a module."""
