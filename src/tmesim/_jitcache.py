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


def _digest(root: Path, sources: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for pattern in sources:
        for path in sorted(root.glob(pattern)):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _cache_dirs(root: Path) -> list[Path]:
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return [Path(env)]
    return [d / "__pycache__" for d in {p.parent for p in [*root.glob("*.py"), *root.glob("*/*.py"), *root.glob("*/*/*.py")]}]


def ensure_fresh(root: Path = _ROOT, sources: tuple[str, ...] = _SOURCES, stamp_name: str = "tmesim-jit.sha256") -> None:
    """Remove the numba cache files of the package at ``root`` (best effort) when the hash of ``sources``
    (glob patterns under ``root``) differs from the one recorded in ``stamp_name`` beside them.

    tmesim calls it with its defaults; the frozen test twin (tests/basic_model) calls it for its own files,
    whose index constants its kernels compile in just as tmesim's do.
    """
    digest = _digest(root, sources)
    for cache in _cache_dirs(root):
        stamp = cache / stamp_name
        try:
            if stamp.is_file() and stamp.read_text() == digest:
                continue
            for f in list(cache.rglob("*.nbi")) + list(cache.rglob("*.nbc")):
                f.unlink()
            cache.mkdir(parents=True, exist_ok=True)
            stamp.write_text(digest)
        except OSError:
            pass  # read-only install: numba falls back to its own user cache
