"""1:N duplicate search over all enrolled templates, on memory-mapped files.

Files for an index at PATH (a directory):
  vectors.f32  float32 rows of 128 (capacity rows; grows by doubling)
  norms.f32    |row|^2 of each row, so a search is one matrix-vector product:
               |q - x|^2 = |q|^2 + |x|^2 - 2 q.x
  ids.i64      int64 id of each row; REMOVED (-1) marks a deleted row
  meta.json    {"format", "dim", "count", "capacity"}, replaced atomically after each
               write, so rows past `count` (a crash mid-add) are ignored.

One writer at a time (the backend's enrolment worker); readers may search concurrently.
At 1,000,000 templates the vectors are 512 MB; the page cache keeps them in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from biometrics.errors import IndexFileError, TemplateError

DIM = 128
REMOVED = -1
FORMAT = "nongbao-face-index-1"
# rows per block of the search: 64k x 128 float32 = 32 MB, cache-friendly and bounded
CHUNK_ROWS = 65_536
_INITIAL_CAPACITY = 1024


class TemplateIndex:
    def __init__(self, path: str | Path, *, dim: int = DIM) -> None:
        self.path = Path(path)
        self.dim = dim
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self._read_meta()
        self._count = meta["count"]
        self._capacity = meta["capacity"]
        self._open_maps()
        self._positions = {
            int(i): row for row, i in enumerate(self._ids[: self._count]) if i != REMOVED
        }

    # ---- public API -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._positions)

    def __contains__(self, template_id: int) -> bool:
        return int(template_id) in self._positions

    def add(self, template_id: int, template: np.ndarray) -> None:
        """Add (or replace) the template of an id."""
        self.add_many([template_id], np.asarray(template, dtype=np.float32)[None, :])

    def add_many(self, ids: Iterable[int], templates: np.ndarray) -> None:
        """Bulk add; much faster than add() in a loop (one flush, one metadata write)."""
        id_array = np.fromiter((int(i) for i in ids), dtype=np.int64)
        matrix = np.ascontiguousarray(templates, dtype=np.float32).reshape(-1, self.dim)
        if id_array.size != matrix.shape[0]:
            raise ValueError(f"{id_array.size} ids for {matrix.shape[0]} templates")
        if (id_array < 0).any():
            raise ValueError("template ids must be non-negative")
        if not np.isfinite(matrix).all():
            raise TemplateError("template contains NaN or infinity")
        for template_id in id_array:
            if int(template_id) in self._positions:
                self.remove(int(template_id))
        self._reserve(self._count + matrix.shape[0])
        start, end = self._count, self._count + matrix.shape[0]
        self._vectors[start:end] = matrix
        self._norms[start:end] = np.einsum("ij,ij->i", matrix, matrix)
        self._ids[start:end] = id_array
        self._count = end
        for row, template_id in enumerate(id_array, start=start):
            self._positions[int(template_id)] = row
        self._flush()

    def remove(self, template_id: int) -> bool:
        """Remove an id's template; returns False if it was not there."""
        row = self._positions.pop(int(template_id), None)
        if row is None:
            return False
        self._ids[row] = REMOVED
        self._flush()
        return True

    def search(self, template: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
        """The k nearest templates as (id, Euclidean distance), nearest first."""
        query = np.asarray(template, dtype=np.float32).reshape(1, self.dim)
        return self.search_many(query, k)[0]

    def search_many(self, templates: np.ndarray, k: int = 5) -> list[list[tuple[int, float]]]:
        """search() for a batch of queries at once: one pass over the files and a
        matrix-matrix product, much faster than a loop (e.g. deduplicating a whole batch
        of new enrolments)."""
        queries = np.ascontiguousarray(templates, dtype=np.float32).reshape(-1, self.dim)
        if k <= 0 or not self._positions:
            return [[] for _ in range(queries.shape[0])]
        best_d2 = np.full((queries.shape[0], 0), np.inf, dtype=np.float32)
        best_rows = np.empty((queries.shape[0], 0), dtype=np.int64)
        for start in range(0, self._count, CHUNK_ROWS):
            end = min(start + CHUNK_ROWS, self._count)
            # |q - x|^2 - |q|^2 ranks the same: |q|^2 is constant per query
            d2 = self._norms[start:end][None, :] - 2.0 * (queries @ self._vectors[start:end].T)
            d2[:, self._ids[start:end] == REMOVED] = np.inf
            take = min(k, end - start)
            rows = np.argpartition(d2, take - 1, axis=1)[:, :take]
            best_d2 = np.hstack([best_d2, np.take_along_axis(d2, rows, axis=1)])
            best_rows = np.hstack([best_rows, rows + start])
            if best_d2.shape[1] > k:
                keep = np.argpartition(best_d2, k - 1, axis=1)[:, :k]
                best_d2 = np.take_along_axis(best_d2, keep, axis=1)
                best_rows = np.take_along_axis(best_rows, keep, axis=1)
        return [self._hits(queries[i], best_rows[i], best_d2[i]) for i in range(len(queries))]

    def _hits(self, query: np.ndarray, rows: np.ndarray, d2: np.ndarray) -> list[tuple[int, float]]:
        """Exact distances for the k candidates: the expanded formula loses precision for
        near-identical templates (float32 cancellation), which is where duplicates are."""
        rows = np.sort(rows[np.isfinite(d2)])  # sorted rows read the memmap in order
        exact = np.linalg.norm(self._vectors[rows] - query, axis=1)
        ids = self._ids[rows]
        order = np.lexsort((ids, exact))  # nearest first; ties by id, deterministically
        return [(int(ids[i]), float(exact[i])) for i in order]

    def get(self, template_id: int) -> np.ndarray | None:
        row = self._positions.get(int(template_id))
        return None if row is None else np.array(self._vectors[row])

    def compact(self) -> None:
        """Rewrite the files without removed rows (run in a quiet hour)."""
        keep = np.flatnonzero(self._ids[: self._count] != REMOVED)
        vectors, ids = np.array(self._vectors[keep]), np.array(self._ids[keep])
        self._count = 0
        self._positions.clear()
        self.add_many(ids.tolist(), vectors) if ids.size else self._flush()

    # ---- files ------------------------------------------------------------------------

    def _read_meta(self) -> dict[str, int]:
        meta_path = self.path / "meta.json"
        if not meta_path.exists():
            return {"count": 0, "capacity": 0}
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise IndexFileError(f"{meta_path}: unreadable index metadata: {exc}") from exc
        if meta.get("format") != FORMAT or meta.get("dim") != self.dim:
            raise IndexFileError(f"{meta_path}: not a {FORMAT} index of dimension {self.dim}")
        for name, itemsize in (("vectors.f32", 4 * self.dim), ("norms.f32", 4), ("ids.i64", 8)):
            size = (self.path / name).stat().st_size if (self.path / name).exists() else -1
            if size < meta["capacity"] * itemsize:
                raise IndexFileError(f"{self.path / name} is shorter than the index says")
        return {"count": int(meta["count"]), "capacity": int(meta["capacity"])}

    def _open_maps(self) -> None:
        capacity = max(self._capacity, 1)
        self._vectors = self._map("vectors.f32", np.float32, (capacity, self.dim))
        self._norms = self._map("norms.f32", np.float32, (capacity,))
        self._ids = self._map("ids.i64", np.int64, (capacity,))

    def _map(self, name: str, dtype: type, shape: tuple[int, ...]) -> np.memmap:
        file = self.path / name
        needed = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if not file.exists() or file.stat().st_size < needed:
            with file.open("ab") as f:
                f.truncate(needed)
        return np.memmap(file, dtype=dtype, mode="r+", shape=shape)

    def _reserve(self, rows: int) -> None:
        if rows <= self._capacity:
            return
        self._flush_maps()
        self._capacity = max(rows, self._capacity * 2, _INITIAL_CAPACITY)
        self._open_maps()

    def _flush_maps(self) -> None:
        for array in (self._vectors, self._norms, self._ids):
            array.flush()

    def _flush(self) -> None:
        self._flush_maps()
        meta = {"format": FORMAT, "dim": self.dim, "count": self._count, "capacity": self._capacity}
        tmp = self.path / "meta.json.tmp"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, self.path / "meta.json")
