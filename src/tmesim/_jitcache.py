"""Keep numba's on-disk cache consistent with the sources it was built from.

numba re-compiles a cached function when *its own* file changes, but not
when a function it calls in another module changes (the solver inlines the
model, which calls the biology; parameter and state indices are compile-time
constants read from ``catalogue.yaml`` and ``state.py``). We hash every
source that compiled code depends on and drop tmesim's cache files when the
hash changes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
_SOURCES = ("_jit.py", "status.py", "biology/*.py", "biology/programs/*.py", "wellmixed/*.py", "protocols/*.py", "rules/*.py",
            "params/index.py", "params/resolve.py", "params/catalogue.yaml",
            # the spatial kernels and the modules whose constants they compile in (not engine.py: pure Python)
            "spatial/kernels.py", "spatial/rng.py", "spatial/cells.py", "spatial/layout.py", "spatial/fields.py")


def _digest() -> str:
    h = hashlib.sha256()
    for pattern in _SOURCES:
        for path in sorted(_ROOT.glob(pattern)):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _cache_dirs() -> list[Path]:
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return [Path(env)]
    return [d / "__pycache__" for d in {p.parent for p in [*_ROOT.glob("*/*.py"), *_ROOT.glob("*/*/*.py")]}]


def ensure_fresh() -> None:
    """Remove stale numba cache files of this package (best effort)."""
    digest = _digest()
    for cache in _cache_dirs():
        stamp = cache / "tmesim-jit.sha256"
        try:
            if stamp.is_file() and stamp.read_text() == digest:
                continue
            for f in list(cache.rglob("*.nbi")) + list(cache.rglob("*.nbc")):
                f.unlink()
            cache.mkdir(parents=True, exist_ok=True)
            stamp.write_text(digest)
        except OSError:
            pass  # read-only install: numba falls back to its own user cache
