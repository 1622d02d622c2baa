"""The C allocator told to keep large freed blocks for reuse (glibc only).

By default glibc hands every allocation above 32 MB straight to the kernel
(mmap) and gives it back on free, and trims freed memory at the top of the
heap.  The next allocation of the same size then faults in and zeroes every
page again.  Two loops here do exactly that, over and over:

* bitsandbytes on CPU dequantizes each 4-bit weight into a fresh float32
  buffer on every forward pass (100 MB for one MLP projection of a 4B
  model): a one-token decode step of such a layer took 50 ms, 15 ms with the
  blocks kept, 3.4x less (docs/vlm-backend.md);
* the evidence engine's full-resolution maps allocate and free arrays of
  tens of MB per image: a quarter more images a second in `bench_scale.py`,
  and a quarter less peak memory per worker (docs/benchmarks.md).

So allocations up to REUSE_BELOW come from the heap, freed memory up to it
stays there, and all threads share the main arena: a thread's own arena
grows in 64 MB heaps and cannot hold such a block, so it would map it afresh
anyway.  The price is freed memory kept: up to REUSE_BELOW at the heap's top,
and whatever a step leaves free between blocks still in use.  Loading a model
leaves gigabytes so (its full-precision weights read, quantized and dropped),
so the loader hands those pages back (`release_free_memory`).

The arena limit only reaches threads that allocate for the first time after
it is set, so entry points call `reuse_large_blocks` before importing numpy,
torch or OpenCV (which start thread pools); worker processes inherit the same
settings from the environment (`CHILD_ENVIRONMENT`), which glibc reads at
their start.  Elsewhere (macOS, Windows, musl) this does nothing, and
`ZOOMIN_MALLOC=default` in the environment keeps glibc's own settings.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable

REUSE_BELOW = 512 * 1024 * 1024
# mallopt's parameter numbers (glibc's malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
_SETTINGS = ((M_MMAP_THRESHOLD, REUSE_BELOW), (M_TRIM_THRESHOLD, REUSE_BELOW), (M_ARENA_MAX, 1))
# The same, as glibc reads it from the environment of a process it starts.
CHILD_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": str(REUSE_BELOW), "MALLOC_TRIM_THRESHOLD_": str(REUSE_BELOW),
                     "MALLOC_ARENA_MAX": "1"}

_applied: bool | None = None


def reuse_large_blocks() -> bool:
    """Apply the settings to this process (once) and to the processes it starts;
    True where glibc took them."""
    global _applied
    if _applied is None:
        _applied = os.environ.get("ZOOMIN_MALLOC", "") != "default" and _mallopt_all()
        if _applied:
            for name, value in CHILD_ENVIRONMENT.items():
                os.environ.setdefault(name, value)
    return _applied


def _mallopt_all() -> bool:
    mallopt = _libc_function("mallopt", (ctypes.c_int, ctypes.c_int))
    # musl's mallopt exists and returns 0 for everything: then nothing was set.
    return mallopt is not None and all(mallopt(option, value) == 1 for option, value in _SETTINGS)


def release_free_memory() -> bool:
    """Hand the heap's free pages back to the kernel (glibc's malloc_trim), after a step
    that freed far more than the process goes on holding; True where something was returned."""
    if not _applied:
        return False  # glibc's own settings return such memory as it is freed
    trim = _libc_function("malloc_trim", (ctypes.c_size_t,))
    return trim is not None and trim(0) == 1


def _libc_function(name: str, argtypes: tuple) -> Callable[..., int] | None:
    """The C library's `name` (returning an int), or None off Linux or where it has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = argtypes, ctypes.c_int
    return function
