"""Sources: readers that yield source records (payload dicts) from CSV, JSON and JSONL files.

A `Source` knows only how to read; mapping and standardization happen downstream. Vendor APIs
(Shopify, Stripe, ...) implement the same interface in a later issue.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import ijson

from context.errors import MalformedSourceError, SourceError
from context.intake.config import IntakeConfig, SourceConfig


@dataclass(frozen=True, slots=True)
class SourcePayload:
    """One record as read from a source, with its position for error messages."""

    payload: dict[str, Any]
    line: int | None


class Source(Protocol):
    """Anything that yields source records."""

    name: str

    def read(self) -> Iterator[SourcePayload]:
        """Yield records; raise MalformedSourceError naming the place on unreadable input."""
        ...

    def progress(self) -> tuple[int, int | None]:
        """(work done, total) in the source's own unit (bytes for files), for progress bars."""
        ...


class _FileSource:
    def __init__(self, name: str, path: Path, encoding: str) -> None:
        self.name = name
        self.path = path
        self.encoding = encoding
        self._done = 0
        if not path.exists():
            raise SourceError(name, f"{path}: file not found")

    def progress(self) -> tuple[int, int | None]:
        return self._done, self.path.stat().st_size

    def _decoded_lines(self, handle: IO[bytes]) -> Iterator[tuple[int, str]]:
        """Decode line by line so an encoding error names its line."""
        for number, raw in enumerate(handle, start=1):
            self._done += len(raw)
            try:
                text = raw.decode(self.encoding)
            except UnicodeDecodeError as exc:
                raise MalformedSourceError(
                    self.name,
                    str(self.path),
                    number,
                    f"not valid {self.encoding} (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                    "set `encoding:` for this source, e.g. cp1252",
                ) from None
            if number == 1:
                text = text.removeprefix("\ufeff")
            yield number, text


class CsvSource(_FileSource):
    """A CSV file with a header row (spreadsheet exports and hand-kept sheets)."""

    def __init__(self, name: str, path: Path, *, encoding: str = "utf-8", delimiter: str = ",") -> None:
        super().__init__(name, path, encoding)
        self.delimiter = delimiter

    def read(self) -> Iterator[SourcePayload]:
        """Yield one payload per data row, keyed by the header's column names."""
        with self.path.open("rb") as handle:
            line_numbers: list[int] = [0]

            def text_lines() -> Iterator[str]:
                for number, text in self._decoded_lines(handle):
                    line_numbers[0] = number
                    yield text

            reader = csv.reader(text_lines(), delimiter=self.delimiter, strict=True)
            try:
                header = next(reader, None)
                if header is None:
                    return
                header = [h.strip() for h in header]
                width = len(header)
                previous_end = line_numbers[0]
                for row in reader:
                    # A quoted field may span lines: a record starts right after the previous one ended.
                    start_line, previous_end = previous_end + 1, line_numbers[0]
                    if not row or all(not cell.strip() for cell in row):
                        continue
                    if len(row) > width:
                        raise MalformedSourceError(
                            self.name,
                            str(self.path),
                            start_line,
                            f"row has {len(row)} fields but the header has {width} (unquoted delimiter?)",
                        )
                    yield SourcePayload(dict(zip(header, row, strict=False)), start_line)
            except csv.Error as exc:
                raise MalformedSourceError(self.name, str(self.path), line_numbers[0], f"bad CSV: {exc}") from None


class JsonLinesSource(_FileSource):
    """One JSON object per line (bulk exports)."""

    def read(self) -> Iterator[SourcePayload]:
        """Yield one payload per non-blank line."""
        with self.path.open("rb") as handle:
            for number, text in self._decoded_lines(handle):
                if not text.strip():
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise MalformedSourceError(
                        self.name, str(self.path), number, f"invalid JSON: {exc.msg} (column {exc.colno})"
                    ) from None
                if not isinstance(value, dict):
                    raise MalformedSourceError(self.name, str(self.path), number, "expected a JSON object")
                yield SourcePayload(value, number)


class JsonSource(_FileSource):
    """A JSON document holding a list of records, at the top level or under a dotted path (`data`)."""

    def __init__(self, name: str, path: Path, *, encoding: str = "utf-8", records: str | None = None) -> None:
        super().__init__(name, path, encoding)
        self.records_path = records

    def read(self) -> Iterator[SourcePayload]:
        """Stream the records of the list (flat memory for large exports)."""
        prefix = f"{self.records_path}.item" if self.records_path else "item"
        with self.path.open("rb") as handle:
            counting = _CountingReader(handle)
            try:
                found = False
                for value in ijson.items(counting, prefix, use_float=True):
                    found = True
                    self._done = counting.position
                    if not isinstance(value, dict):
                        raise MalformedSourceError(self.name, str(self.path), None, f"{prefix}: expected objects")
                    yield SourcePayload(value, None)
            except (ijson.JSONError, UnicodeDecodeError):
                raise self._locate_error() from None
        if not found:
            self._check_shape()

    def _locate_error(self) -> MalformedSourceError:
        # The streaming parser does not report lines; re-parse once to name the exact line.
        try:
            json.loads(self.path.read_bytes().decode(self.encoding))
        except UnicodeDecodeError as exc:
            line = self.path.read_bytes()[: exc.start].count(b"\n") + 1
            return MalformedSourceError(self.name, str(self.path), line, f"not valid {self.encoding}")
        except json.JSONDecodeError as exc:
            return MalformedSourceError(
                self.name, str(self.path), exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})"
            )
        return MalformedSourceError(self.name, str(self.path), None, "invalid JSON")

    def _check_shape(self) -> None:
        try:
            doc = json.loads(self.path.read_bytes().decode(self.encoding))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self._locate_error() from None
        node: Any = doc
        for part in (self.records_path or "").split(".") if self.records_path else []:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, list):
            where = f"under {self.records_path!r}" if self.records_path else "at the top level"
            raise MalformedSourceError(self.name, str(self.path), None, f"no list of records {where}")


class _CountingReader:
    """Wraps a binary file to report how far the streaming parser has read."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.position += len(chunk)
        return chunk


def open_source(config: IntakeConfig, source: SourceConfig) -> Source:
    """Build the reader for a configured source."""
    path = config.resolve_path(source)
    if source.kind == "csv":
        return CsvSource(source.name, path, encoding=source.encoding, delimiter=source.delimiter)
    if source.kind == "jsonl":
        return JsonLinesSource(source.name, path, encoding=source.encoding)
    return JsonSource(source.name, path, encoding=source.encoding, records=source.records)
