"""A step's readings written straight into Parquet files on a thread of their own.

dlt writes the Arrow batches a resource yields into its package's Parquet files on the thread
that runs the extract, the same thread that takes every parsed batch from the fetching workers.
In scenario 3 of `bench/` (2 M readings, no latency) that thread was the bottleneck: writing the
Parquet was about half of its time, and the workers spent half of theirs waiting for it to take
their batches. For a destination loaded from Parquet (the uapi CLI's DuckDB), the source writes
the files itself, on a writer thread that runs beside the extract (pyarrow's writer releases
the GIL), and hands dlt the finished files to import as they are (`dlt.mark.with_file_import`):
the package holds the same rows, columns and `_dlt_load_id` as the files dlt would have written.

The files are written without compression or column statistics: they live for seconds, until
the step's load reads them once, and both cost CPU on every reading (~30 % of the write).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .readings import READINGS_SCHEMA

LOAD_ID_COLUMN = "_dlt_load_id"
# The readings and the load's id, as dlt writes them (one id per file: a dictionary column).
FILE_SCHEMA = READINGS_SCHEMA.append(
    pa.field(LOAD_ID_COLUMN, pa.dictionary(pa.int32(), pa.string()), nullable=False)
)
# Rows of one Parquet row group: the page batches (~10 k readings each) are gathered to this.
ROW_GROUP_ROWS = 64 * 1024
# Readings per file: a file is one load job (one transaction in DuckDB).
FILE_ROWS = 1_000_000
# Batches handed over and not yet written: the extract's thread waits beyond this.
PENDING_TABLES = 4

_END = object()


@dataclass(frozen=True)
class ReadingsFile:
    """A finished Parquet file of readings and how many rows it holds."""

    path: Path
    rows: int


class ReadingsFiles:
    """Writes READINGS_SCHEMA tables into Parquet files under `directory`, off the caller's
    thread. `add` hands a table over and returns the files finished since; `close` finishes
    the last one. A write that fails is raised by the next `add` or `close`; `abort` (or a
    failure) removes every file not yet handed back."""

    def __init__(
        self,
        directory: Path,
        load_id: str,
        *,
        file_rows: int = FILE_ROWS,
        row_group_rows: int = ROW_GROUP_ROWS,
    ) -> None:
        self.directory = directory
        self.load_id = load_id
        self.file_rows = file_rows
        self.row_group_rows = row_group_rows
        self._pending: queue.Queue[Any] = queue.Queue(maxsize=PENDING_TABLES)
        self._finished: queue.SimpleQueue[ReadingsFile] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._open: Path | None = None
        self._seq = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="uapi-readings-files", daemon=True)
        self._thread.start()

    def add(self, table: pa.Table) -> list[ReadingsFile]:
        self._raise_if_failed()
        if table.num_rows:
            self._pending.put(table)
        return self._take_finished()

    def close(self) -> list[ReadingsFile]:
        """Write what is left; the files not handed back yet."""
        self._pending.put(_END)
        self._thread.join()
        self._raise_if_failed()
        return self._take_finished()

    def abort(self) -> None:
        """Stop writing and remove every file not handed back (a step that failed)."""
        self._stop.set()
        # make room for the end mark: a stopped writer may take no more tables
        while True:
            try:
                self._pending.get_nowait()
            except queue.Empty:
                break
        self._pending.put(_END)
        self._thread.join()
        for done in self._take_finished():
            done.path.unlink(missing_ok=True)
        if self._open is not None:
            self._open.unlink(missing_ok=True)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"could not write the readings' Parquet file: {self._error}") from (
                self._error
            )

    def _take_finished(self) -> list[ReadingsFile]:
        done = []
        while True:
            try:
                done.append(self._finished.get_nowait())
            except queue.Empty:
                return done

    def _run(self) -> None:
        try:
            self._write_all()
        except BaseException as exc:  # noqa: BLE001 - raised on the caller's thread
            self._error = exc
            if self._open is not None:
                self._open.unlink(missing_ok=True)
            # keep taking tables, so a caller blocked on a full queue gets to see the error
            while self._pending.get() is not _END:
                pass

    def _write_all(self) -> None:
        writer: pq.ParquetWriter | None = None
        in_file = 0
        group: list[pa.Table] = []
        grouped = 0
        for table in self._tables():
            if writer is None:
                writer = self._new_file()
            group.append(table)
            grouped += table.num_rows
            if grouped < self.row_group_rows and in_file + grouped < self.file_rows:
                continue
            self._write_group(writer, group, grouped)
            in_file += grouped
            group, grouped = [], 0
            if in_file >= self.file_rows:
                self._finish(writer, in_file)
                writer, in_file = None, 0
        if self._stop.is_set():
            if writer is not None:
                writer.close()
            return
        if group:
            writer = writer or self._new_file()
            self._write_group(writer, group, grouped)
            in_file += grouped
        if writer is not None:
            self._finish(writer, in_file)

    def _tables(self) -> Iterator[pa.Table]:
        while not self._stop.is_set():
            table = self._pending.get()
            if table is _END:
                return
            yield table

    def _new_file(self) -> pq.ParquetWriter:
        self._seq += 1
        self._open = self.directory / f"{self.load_id}.{self._seq}.parquet"
        return pq.ParquetWriter(
            self._open,
            FILE_SCHEMA,
            compression="none",
            write_statistics=False,
        )

    def _write_group(self, writer: pq.ParquetWriter, group: list[pa.Table], rows: int) -> None:
        table = pa.concat_tables(group)
        load_ids = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(rows, dtype=np.int32)), pa.array([self.load_id])
        )
        writer.write_table(table.append_column(FILE_SCHEMA.field(LOAD_ID_COLUMN), load_ids))

    def _finish(self, writer: pq.ParquetWriter, rows: int) -> None:
        writer.close()
        assert self._open is not None
        self._finished.put(ReadingsFile(self._open, rows))
        self._open = None
