"""models/heap.py: large freed blocks are kept for reuse, in this process and in the ones it starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models import heap

ROOT = Path(__file__).resolve().parents[1]
glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                                reason="the settings are glibc's; elsewhere reuse_large_blocks does nothing")

# Allocates and frees a 100 MB array five times (as bitsandbytes does a dequantized weight on every
# forward pass) and reports the page faults of the last four, with or without the settings.
_CHURN = """
import ctypes, json, resource, sys
from models import heap
applied = heap.reuse_large_blocks() if sys.argv[1] == "reuse" else False
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, (ctypes.c_size_t,), (ctypes.c_void_p,)
SIZE = 100 * 1024 * 1024
def churn():  # what torch's CPU allocator does for a tensor (numpy asks for huge pages, which hides the count)
    block = libc.malloc(SIZE)
    ctypes.memset(block, 1, SIZE)
    libc.free(block)
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    churn()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "faults": faults, "env": {k: v for k, v in __import__("os").environ.items()
                                                               if k.startswith("MALLOC_")}}))
"""


def _run(script: str, *args: str, **extra: str) -> dict:
    """`script` in a fresh interpreter without this process's allocator settings; its JSON line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "ZOOMIN_MALLOC"} | extra
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout)


def _churn(mode: str, **extra: str) -> dict:
    return _run(_CHURN, mode, **extra)


@glibc_only
def test_a_freed_large_block_is_reused_instead_of_faulted_in_again():
    default, reused = _churn("default"), _churn("reuse")
    assert reused["applied"] is True and default["applied"] is False
    # Each 100 MB block is 25,600 pages (50 where the kernel backs it with 2 MB pages): by default
    # every one of them is faulted in and zeroed again each time.
    assert default["faults"] >= 4 * 50
    assert reused["faults"] < default["faults"] / 10, (default, reused)


@glibc_only
def test_zoomin_malloc_default_keeps_glibcs_own_settings():
    kept = _churn("reuse", ZOOMIN_MALLOC="default")
    assert kept["applied"] is False and kept["env"] == {} and kept["faults"] >= 4 * 50


@glibc_only
def test_processes_it_starts_get_the_same_settings_from_the_environment():
    reused = _churn("reuse")
    assert reused["env"] == heap.CHILD_ENVIRONMENT
    assert int(heap.CHILD_ENVIRONMENT["MALLOC_MMAP_THRESHOLD_"]) >= 100 * 1024 * 1024  # the blocks that matter


def test_the_entry_points_apply_it_before_numpy_is_imported():
    # The arena limit reaches only threads that allocate after it: numpy's import starts OpenBLAS threads.
    for entry in (ROOT / "app.py", ROOT / "zoomin_ui" / "cli.py"):
        lines = entry.read_text().splitlines()
        call = next(i for i, line in enumerate(lines) if line.startswith("reuse_large_blocks()"))
        other_imports = [i for i, line in enumerate(lines) if line.startswith(("import ", "from "))
                         and "__future__" not in line and "models.heap" not in line]
        assert call < min(other_imports), entry


# Many large blocks freed between small ones still in use (a model's weights read, quantized
# and dropped): kept on the heap, until release_free_memory hands their pages back.
_LOAD_LIKE = """
import ctypes, json, sys
from models import heap
heap.reuse_large_blocks()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, (ctypes.c_size_t,), (ctypes.c_void_p,)
def resident_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 // 2**20
kept, dropped = [], []
for _ in range(20):
    block = libc.malloc(40 * 2**20)
    ctypes.memset(block, 1, 40 * 2**20)
    dropped.append(block)
    small = libc.malloc(2**20)
    ctypes.memset(small, 1, 2**20)
    kept.append(small)
for block in dropped:
    libc.free(block)
before = resident_mb()
released = heap.release_free_memory()
print(json.dumps({"before": before, "after": resident_mb(), "released": released}))
"""


@glibc_only
def test_release_free_memory_hands_back_what_a_load_left_between_blocks_in_use():
    figures = _run(_LOAD_LIKE)
    assert figures["before"] > 700, figures  # 800 MB freed, still resident
    assert figures["released"] is True and figures["after"] < figures["before"] - 600, figures
