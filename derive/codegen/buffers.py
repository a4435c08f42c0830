"""Buffer planning for one kernel: which temporary array holds which value, and what it is called.

Every operation of a lowered kernel writes into a preallocated buffer (``out=``),
and a buffer is reused as soon as the value in it is dead, so a kernel needs a
handful of (rows, K) and (rows, 1) arrays however long its expression.  A
buffer is named after the value it holds (``shifted``, ``exp_shifted``,
``partition``); when it is reused for another value, the generated code binds
the new name to it (``exp_shifted = shifted``), which costs nothing and keeps
every line readable.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable


@dataclass(eq=False)
class Buffer:
    """A temporary array of one kernel: (rows, K) ("vec") or (rows, 1) ("row")."""

    kind: str
    first_name: str  # the name it is allocated under
    name: str        # the name its current value goes by


@dataclass
class BufferPool:
    """Allocates, reuses and names a kernel's temporaries; ``emit`` receives the rebinding lines."""

    head: str                        # the kernel's first (rows, K) argument: it gives the shapes
    emit: Callable[[str], None]
    forget: Callable[[Buffer], None]  # called before a buffer is overwritten (values cached in it die)
    allocations: list[Buffer] = field(default_factory=list)
    free: dict = field(default_factory=lambda: {"vec": [], "row": []})
    #: the buffer the final operation reads for the last time: it may be the output array itself
    output_alias: Buffer | None = None
    _names: Counter = field(default_factory=Counter)

    def _unique(self, hint: str) -> str:
        self._names[hint] += 1
        return hint if self._names[hint] == 1 else f"{hint}_{self._names[hint]}"

    def take(self, kind: str, hint: str) -> Buffer:
        """A buffer for a new value: a free one (renamed for it) or a new allocation."""
        if self.free[kind]:
            buffer = self.free[kind].pop()
            self.forget(buffer)
            self.rename(buffer, hint)
            return buffer
        buffer = Buffer(kind, "", "")
        buffer.first_name = buffer.name = self._unique(hint)
        self.allocations.append(buffer)
        return buffer

    def rename(self, buffer: Buffer, hint: str) -> None:
        """The buffer now holds a value called `hint`: bind that name to it in the generated code."""
        if re.sub(r"_\d+$", "", buffer.name) == hint:  # already called so (an update in place)
            return
        new = self._unique(hint)
        self.emit(f"{new} = {buffer.name}")
        buffer.name = new

    def reuse(self, buffer: Buffer, hint: str) -> Buffer:
        """A dying operand's buffer takes the result of the operation that reads it (in place)."""
        self.forget(buffer)
        self.rename(buffer, hint)
        return buffer

    def give_back(self, buffer: Buffer) -> None:
        if buffer is not self.output_alias and buffer not in self.free["vec"] + self.free["row"]:
            self.free[buffer.kind].append(buffer)

    def is_free(self, buffer: Buffer) -> bool:
        return buffer in self.free[buffer.kind]

    def allocation_lines(self) -> list[str]:
        """The np.empty lines, in allocation order; the output alias lives in `out` when out is float64.

        All work is float64: float32 input is converted per block and results are rounded once.
        """
        lines = []
        for buffer in self.allocations:
            shape = f"{self.head}.shape" if buffer.kind == "vec" else f"({self.head}.shape[0], 1)"
            if buffer is self.output_alias:
                lines.append(f"{buffer.first_name} = out if out.dtype == np.float64 else np.empty({shape})"
                             "  # written last, read before")
            else:
                lines.append(f"{buffer.first_name} = np.empty({shape})")
        return lines
