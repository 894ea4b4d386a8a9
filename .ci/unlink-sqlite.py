"""Take libsqlite3 out of the wheel's list of needed libraries (docs/ARCHITECTURE.md,
decision 1, "The wheel and the one SQLite").

`maturin build` links the core against the system libsqlite3, which records
``libsqlite3.so.0`` as a needed library of ``_core.abi3.so``. auditwheel would then judge
the wheel by that system library's glibc (and `auditwheel repair` would copy it in: a second
SQLite). Without the entry the core's SQLite functions are resolved when it is imported,
from the libsqlite3 that ``strata/__init__.py`` loads first into the global symbol scope:
the copy Python's own sqlite3 module uses.

Usage: python .ci/unlink-sqlite.py dist/strata_db-*.whl (needs patchelf and wheel).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

LIBRARY = "libsqlite3.so.0"


def unlink(wheel: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [sys.executable, "-m", "wheel", "unpack", "-d", scratch, str(wheel)],
            check=True,
            capture_output=True,
        )
        (root,) = Path(scratch).iterdir()
        cores = sorted(root.glob("strata/_core*.so"))
        if not cores:
            sys.exit(f"{wheel}: no strata/_core*.so inside")
        for core in cores:
            needed = subprocess.run(
                ["patchelf", "--print-needed", str(core)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            if LIBRARY not in needed:
                sys.exit(f"{core.name} does not need {LIBRARY} (needs {needed}); was it linked?")
            subprocess.run(["patchelf", "--remove-needed", LIBRARY, str(core)], check=True)
        # `wheel pack` writes RECORD again, with the patched file's hash.
        subprocess.run(
            [sys.executable, "-m", "wheel", "pack", "-d", str(wheel.parent), str(root)],
            check=True,
            capture_output=True,
        )
    print(f"{wheel.name}: {LIBRARY} is loaded by strata/__init__.py, not named by the core")


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        unlink(Path(argument))
