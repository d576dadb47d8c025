"""How the KB's and the index's ``.npy`` arrays are opened: memory-mapped, or read by runs.

Arrays that are read at random positions (the forward index, per-string norms, KB offsets) are
memory-mapped: opening is instant and the pages are shared by every process using the pipeline.
Arrays that are only ever read as contiguous runs (posting lists) are read with ``pread``
instead (:class:`RunArray`): a mapped file that is already in the page cache gets 64 KB mapped
into the process around every page it touches (the kernel's fault-around), so a few thousand
short posting lists read at scattered places would bring most of a several-hundred-MB file into
the process's resident set; read by runs, the pages stay in the page cache only (shared,
reclaimable) and the process holds just what it copied.
"""

from __future__ import annotations

import mmap as _mmap
import os
from pathlib import Path
from typing import Union

import numpy as np

HAS_PREAD = hasattr(os, "preadv")


def read_info(folder: Path, name: str, version: int) -> dict:
    """The JSON header ``folder/name`` of a KB or index folder: E410 if it is not a JSON object,
    E406 if it was written in another format version."""
    import srsly

    from .errors import KnowledgeBaseError, LinkingErrors

    try:
        info = srsly.read_json(folder / name)
    except ValueError as err:
        raise KnowledgeBaseError(LinkingErrors.E410.format(path=folder / name, reason=err)) from None
    if not isinstance(info, dict):
        raise KnowledgeBaseError(LinkingErrors.E410.format(path=folder / name, reason="not a JSON object"))
    if info.get("format_version") != version:
        raise KnowledgeBaseError(LinkingErrors.E406.format(found=info.get("format_version"), path=folder, expected=version))
    return info


def load_npy(path: Path, mmap: bool) -> np.ndarray:
    """Load a ``.npy`` file; memory-mapped as a plain ndarray view (``np.memmap.__getitem__`` is a
    Python-level method and costs microseconds per indexing call), advised ``MADV_RANDOM`` so that
    the kernel does not read ahead around each page fault (a cold lookup reads one page, not 128 KB)."""
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:  # truncated, not .npy, pickled objects
        from .errors import KnowledgeBaseError, LinkingErrors

        raise KnowledgeBaseError(LinkingErrors.E410.format(path=path, reason=err)) from None
    if not isinstance(arr, np.memmap):
        return arr
    mm = getattr(arr, "_mmap", None)
    if mm is not None and hasattr(mm, "madvise") and hasattr(_mmap, "MADV_RANDOM"):
        try:
            mm.madvise(_mmap.MADV_RANDOM)
        except OSError:  # pragma: no cover - advisory only
            pass
    return arr.view(np.ndarray)


class RunArray:
    """A read-only 1-d array in a ``.npy`` file, read by contiguous runs with ``pread``.

    Supports ``len``, ``dtype``, slicing with step 1 (``a[i:j]``), :meth:`take_runs` and
    ``np.asarray(a)`` (reads the whole array). Pickles as its path."""

    def __init__(self, path: Union[str, Path]) -> None:
        from .errors import KnowledgeBaseError, LinkingErrors

        self.path = Path(path)
        try:
            with self.path.open("rb") as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                self.offset = f.tell()
        except (ValueError, OSError, EOFError) as err:
            raise KnowledgeBaseError(LinkingErrors.E410.format(path=self.path, reason=err)) from None
        if len(shape) != 1 or dtype.hasobject:
            raise KnowledgeBaseError(
                LinkingErrors.E410.format(
                    path=self.path, reason=f"a 1-d array of numbers is expected, found shape {shape} and dtype {dtype}"
                )
            )
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        expected = self.offset + int(np.prod(shape)) * self.dtype.itemsize
        if self.path.stat().st_size < expected:  # truncated: found now, not at the first query
            raise KnowledgeBaseError(
                LinkingErrors.E410.format(path=self.path, reason=f"{self.path.stat().st_size} bytes, the header says {expected}")
            )
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("RunArray supports slices only; use take_runs for many runs")
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise TypeError("RunArray supports slices with step 1 only")
        n = max(0, stop - start)
        return self.take_runs(np.asarray([start]), np.asarray([n]))

    def take_runs(self, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
        """The runs ``[starts[i], starts[i] + lens[i])``, concatenated (one ``pread`` per run)."""
        item = self.dtype.itemsize
        out = np.empty(int(np.sum(lens)), dtype=self.dtype)
        buf = memoryview(out).cast("B")
        pos = 0
        for s, n in zip(np.asarray(starts).tolist(), np.asarray(lens).tolist(), strict=True):
            if n <= 0:
                continue
            end, off = pos + n * item, self.offset + s * item
            while pos < end:  # pread may return fewer bytes than asked
                got = os.preadv(self._fd, [buf[pos:end]], off)
                if got <= 0:
                    raise OSError(f"{self.path}: unexpected end of file at byte {off}")
                pos, off = pos + got, off + got
        return out

    def __array__(self, dtype=None, copy=None):
        out = self.take_runs(np.asarray([0]), np.asarray([len(self)]))
        return out if dtype is None else out.astype(dtype)

    def __getstate__(self) -> dict:
        return {"path": str(self.path)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:  # pragma: no cover
                pass
            self._fd = None


def take_runs(arr: Union[np.ndarray, RunArray], starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """The runs ``arr[starts[i] : starts[i] + lens[i]]``, concatenated."""
    if isinstance(arr, RunArray):
        return arr.take_runs(starts, lens)
    lens = np.asarray(lens, dtype=np.int64)
    total = int(lens.sum())
    if not total:
        return np.zeros(0, dtype=arr.dtype)
    seg = np.cumsum(lens) - lens
    pos = np.repeat(np.asarray(starts, dtype=np.int64) - seg, lens) + np.arange(total, dtype=np.int64)
    return np.asarray(arr[pos])


def save_npy(path: Path, arr) -> None:
    """Write an array as ``.npy`` through a temporary file renamed over ``path``: a pipeline saved
    into the folder it was loaded from keeps its open memory maps valid (they still see the old
    file) instead of reading a truncated one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        np.save(f, np.ascontiguousarray(arr), allow_pickle=False)
    os.replace(tmp, path)
