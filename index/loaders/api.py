"""Format dispatch, file reading and directory walking.

``stream_paths`` is the loading of an archive: a file at a time, and a JSON
Lines file (``.jsonl``, not a RealTimeQA ``*_gcs.jsonl``) a record at a time,
so a file of a million lines is never held in memory and has no size limit
(each of its records has the file limit). ``load_paths`` gathers it all.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path, PurePath
from typing import BinaryIO

from index.article import Article

from .common import (
    DEFAULT_MAX_FILE_BYTES,
    LoaderError,
    LoadFailure,
    LoadResult,
    check_size,
    decode_text,
    format_mb,
)
from .html_page import parse_html
from .json_records import article_from_record, decode_json_line, parse_json, parse_jsonl
from .markdown_text import parse_markdown
from .plain_text import parse_plain_text
from .realtimeqa import SUFFIX as GCS_SUFFIX
from .realtimeqa import parse_gcs

Parser = Callable[[str, str], LoadResult]


def _single(parse: Callable[[str, str], Article]) -> Parser:
    return lambda text, name: LoadResult([parse(text, name)])


_PARSERS: dict[str, Parser] = {
    ".txt": _single(parse_plain_text),
    ".md": _single(parse_markdown),
    ".markdown": _single(parse_markdown),
    ".html": _single(parse_html),
    ".htm": _single(parse_html),
    ".json": parse_json,
    ".jsonl": parse_jsonl,
}


def _parser_for(name: str) -> Parser:
    """The parser chosen by the file name; raises LoaderError for unknown types."""
    path = PurePath(name)
    if path.name.lower().endswith(GCS_SUFFIX):
        return parse_gcs
    suffix = path.suffix.lower()
    if not suffix:
        raise LoaderError("unsupported file type (no extension)")
    if suffix not in _PARSERS:
        raise LoaderError(f"unsupported file type {suffix!r}")
    return _PARSERS[suffix]


def _parse(name: str, data: bytes, parse: Parser, source: str | None, max_file_bytes: int) -> LoadResult:
    """Parse one file's bytes; file-level problems raise LoaderError."""
    check_size(len(data), max_file_bytes)
    result = parse(decode_text(data), name)
    if source:
        result.articles[:] = [article.with_source(source) for article in result.articles]
    return result


def _load_bytes(name: str, data: bytes, source: str | None, max_file_bytes: int) -> LoadResult:
    return _parse(name, data, _parser_for(name), source, max_file_bytes)


def _load_path(path: Path, source: str | None, max_file_bytes: int) -> LoadResult:
    parse = _parser_for(path.name)  # before reading: an unsupported file is never read
    return _parse(str(path), _read(path, max_file_bytes), parse, source, max_file_bytes)


def _guarded(name: str, load: Callable[[], LoadResult]) -> LoadResult:
    """Run ``load``, turning a file-level LoaderError into a failure named ``name``."""
    try:
        return load()
    except LoaderError as err:
        return LoadResult(failures=[LoadFailure(name, str(err))])


def _read(path: Path, max_file_bytes: int) -> bytes:
    try:
        # Check the size before reading, so a huge file is never pulled into memory.
        check_size(path.stat().st_size, max_file_bytes)
        return path.read_bytes()
    except OSError as err:
        raise LoaderError(f"cannot read file: {err.strerror or err}") from None


def _strict(result: LoadResult) -> list[Article]:
    if result.failures:
        raise LoaderError("; ".join(f"{f.path}: {f.reason}" for f in result.failures))
    return result.articles


def load_upload(
    name: str, data: bytes, source: str | None = None, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> LoadResult:
    """Like ``load_paths`` for one in-memory file: never raises, reports every failure."""
    return _guarded(name, lambda: _load_bytes(name, data, source, max_file_bytes))


def load_bytes(
    name: str, data: bytes, source: str | None = None, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> list[Article]:
    """Articles of uploaded bytes, the format chosen by ``name``'s extension.

    Raises LoaderError when the file, or any record in it, is bad.
    """
    return _strict(_load_bytes(name, data, source, max_file_bytes))


def load_file(
    path: Path, source: str | None = None, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> list[Article]:
    """Articles of one file; raises LoaderError when the file, or any record in it, is bad."""
    return _strict(_load_path(Path(path), source, max_file_bytes))


def _walk(directory: Path) -> Iterator[Path]:
    """Files under ``directory``, recursively in sorted order, hidden entries skipped."""
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _walk(entry)
        else:
            yield entry


def _files(paths: Iterable[str | Path]) -> Iterator[tuple[Path, bool]]:
    """Every file named or under a directory named, and whether it exists."""
    for given in paths:
        root = Path(given)
        if not root.exists():
            yield root, False
        else:
            yield from ((path, True) for path in (_walk(root) if root.is_dir() else [root]))


def input_bytes(paths: Iterable[str | Path]) -> int:
    """The bytes ``stream_paths`` will read (to show progress and the time left)."""
    return sum(_size(path) for path, exists in _files(paths) if exists)


def stream_paths(
    paths: Iterable[str | Path], source: str | None = None, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Iterator[tuple[LoadResult, int]]:
    """What ``load_paths`` returns, a file or a JSON Lines record at a time, each with the bytes
    of input it stands for."""
    for path, exists in _files(paths):
        if not exists:
            yield LoadResult(failures=[LoadFailure(str(path), "no such file or directory")]), 0
        elif path.suffix.lower() == ".jsonl" and not path.name.lower().endswith(GCS_SUFFIX):
            yield from _stream_records(path, source, max_file_bytes)
        else:
            yield _guarded(str(path), partial(_load_path, path, source, max_file_bytes)), _size(path)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


_BOM = b"\xef\xbb\xbf"


def _stream_records(path: Path, source: str | None, max_file_bytes: int) -> Iterator[tuple[LoadResult, int]]:
    try:
        handle = path.open("rb")
    except OSError as err:
        yield LoadResult(failures=[LoadFailure(str(path), f"cannot read file: {err.strerror or err}")]), 0
        return
    with handle:
        records = read = 0
        for number, (line, size) in enumerate(_lines(handle, max_file_bytes), 1):
            read += size
            where = f"{path}:{number}"
            text = line.removeprefix(_BOM) if line is not None and number == 1 else line
            if text is None:
                reason = f"record too large: over {format_mb(max_file_bytes)} (the limit of a file)"
                yield LoadResult(failures=[LoadFailure(where, reason)]), size
            elif text.strip():
                records += 1
                yield _guarded(where, partial(_record, text, source)), size
            else:
                yield LoadResult(), size
    if not records:  # as ``decode_text`` says of a whole file
        yield LoadResult(failures=[LoadFailure(str(path), "empty file (whitespace only)" if read else "empty file")]), 0


def _lines(handle: BinaryIO, most: int) -> Iterator[tuple[bytes | None, int]]:
    """Each line of ``handle`` (split at "\n" only, like ``numbered_lines``) with its size in
    bytes; None for a line over ``most`` bytes, which is read past, never held whole."""
    while line := handle.readline(most + 1):
        if len(line) <= most:
            yield line, len(line)
            continue
        size = len(line)
        while not line.endswith(b"\n") and (line := handle.readline(most)):
            size += len(line)
        yield None, size


def _record(line: bytes, source: str | None) -> LoadResult:
    article = article_from_record(decode_json_line(decode_text(line)))
    return LoadResult([article.with_source(source) if source else article])


def load_paths(
    paths: Iterable[str | Path], source: str | None = None, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> LoadResult:
    """Articles of every file and directory in ``paths``; bad files are collected, never fatal."""
    result = LoadResult()
    for loaded, _ in stream_paths(paths, source, max_file_bytes):
        result.extend(loaded)
    return result
