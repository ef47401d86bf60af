"""Article loaders: files (or uploaded bytes) in, ``Article`` objects out.

Formats, chosen by file name:

- ``*_gcs.jsonl``: RealTimeQA search results, one article per distinct result
- ``.txt``: plain news text (``Published:`` line, headline, captions, byline)
- ``.md`` / ``.markdown``: optional front matter, markdown turned into plain text
- ``.html`` / ``.htm``: main text and metadata extracted by trafilatura
- ``.json`` (object or list) / ``.jsonl``: records with article fields

Every file must be UTF-8 (a BOM is allowed) and at most ``max_file_bytes``
(10 MB by default); read from disk, a ``.jsonl`` file is streamed a record at
a time, so it may be of any size and each record has that limit
(``stream_paths``). Bodies keep paragraphs separated by a blank line.

Source rule: the ``source`` argument, when given, overrides everything; else
the source named by the file (front matter or record field ``source``); else
the host of the article's URL without "www."; else ``"local"``, or for an
article without a headline (title, heading or front matter), the file's base
name: such an article is titled by its first sentence, and the file name
still tells where it came from.

Bad input never stops a batch: ``load_paths`` and ``load_upload`` return every
problem as a ``LoadFailure`` (file name, or ``file.jsonl:LINE`` /
``file.json[INDEX]`` for one bad record, plus a reason) next to the articles
that did load. ``load_file`` and ``load_bytes`` are the strict forms: they
raise ``LoaderError`` if anything in the file is bad.

Directories are walked recursively in sorted order, skipping hidden entries;
files of an unsupported type found there are reported, not ignored.
"""
from .api import input_bytes, load_bytes, load_file, load_paths, load_upload, stream_paths
from .common import DEFAULT_MAX_FILE_BYTES, LoaderError, LoadFailure, LoadResult

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "LoadFailure",
    "LoadResult",
    "LoaderError",
    "input_bytes",
    "load_bytes",
    "load_file",
    "load_paths",
    "load_upload",
    "stream_paths",
]
