"""Callgrind's client requests from Python, without a C compiler.

A client request is a no-op instruction sequence that valgrind recognises
(``valgrind/valgrind.h``): four ``rol`` of ``rdi`` that add up to a full turn,
then ``xchg rbx, rbx``; ``rax`` points at the request's six words and the
answer comes back in ``rdx``. Outside valgrind the sequence does nothing and
returns the default (0). The few bytes live in one executable page called
through :mod:`ctypes`, so the bench can zero and dump callgrind's counters
around exactly the payments it measures (``CALLGRIND_ZERO_STATS`` /
``CALLGRIND_DUMP_STATS_AT``) and nothing else: no imports, no warm-up.

Only x86-64 is supported; elsewhere :func:`requests_available` says why not.
"""

from __future__ import annotations

import ctypes
import mmap
import platform

# mov rax, rdi; xor edx, edx; rol rdi, 3; rol rdi, 13; rol rdi, 61; rol rdi, 51;
# xchg rbx, rbx; mov rax, rdx; ret
_CODE = bytes.fromhex("4889f831d248c1c70348c1c70d48c1c73d48c1c7334887db4889d0c3")

_RUNNING_ON_VALGRIND = 0x1001
_CALLGRIND_BASE = (ord("C") << 24) | (ord("T") << 16)
ZERO_STATS = _CALLGRIND_BASE + 1
DUMP_STATS_AT = _CALLGRIND_BASE + 3

_Args = ctypes.c_uint64 * 6
_call: ctypes._CFuncPtr | None = None  # type: ignore[name-defined]
_page: mmap.mmap | None = None
_keep: list[object] = []


def requests_available() -> str | None:
    """``None`` when client requests can be made here, else the reason why not."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"client requests are wired for x86-64 only, not {platform.machine()}"
    return None


def _request(code: int, arg1: int = 0) -> int:
    global _call, _page
    if _call is None:
        _page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        _page.write(_CODE)
        address = ctypes.addressof(ctypes.c_char.from_buffer(_page))
        _call = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)(address)
    args = _Args(code, arg1, 0, 0, 0, 0)
    return int(_call(ctypes.addressof(args)))


def running_on_valgrind() -> bool:
    return _request(_RUNNING_ON_VALGRIND) > 0


def zero_stats() -> None:
    _request(ZERO_STATS)


def dump_stats_at(label: str) -> None:
    """Write callgrind's counters since the last zero/dump to a new file, named ``label``."""
    text = ctypes.create_string_buffer(label.encode())
    _keep.append(text)
    _request(DUMP_STATS_AT, ctypes.addressof(text))
