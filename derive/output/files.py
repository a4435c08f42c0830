"""Writing output files whole or not at all.

Generated code, reports and logs are written to a temporary file with a unique
name in the target directory and renamed into place, so a reader never sees a
half-written file, two writers never share a temporary, and an interrupted
write (an error, Ctrl-C, SIGTERM) leaves no temporary behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import OutputError

#: temporaries are named .<target>.<random>.tmp (matched by .gitignore)
TEMP_SUFFIX = ".tmp"


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write content to path via a uniquely named temporary file and a rename: never a half-written file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        if isinstance(content, bytes):
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(content)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; an output file is for everyone to read
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:  # also on KeyboardInterrupt and SIGTERM (which the CLI turns into an exception)
        if os.path.exists(tmp):
            os.unlink(tmp)
