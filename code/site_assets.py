"""The report's assets as the pages read them (code/site_macros.py): `asset("runs/x/metrics.json")`
reads a JSON file under docs/assets/ once per build, on first use, and every value a page asks for
is checked as it is read. A missing file or key, a NaN or an infinity stops the build with an error
that names the file and the key and says what to run; a JSON null is a `Null`, false in
`{% if %}` and refused where a page prints or computes it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Iterator

REGENERATE = "regenerate the assets with `python -m vae report`"


def what_regenerates(file: str) -> str:
    """What to run to rewrite `file` (docs/assets/...): the speed bench and the benchmark have their own commands."""
    if file.startswith("docs/assets/bench/"):
        return "rerun `python -m vae bench`"
    return "rerun `make benchmark`" if file.startswith("docs/assets/benchmark/") else REGENERATE


class PageValueError(Exception):
    """A value a page asks for that the assets cannot give (missing, non-finite, not a number).

    Deliberately not a LookupError or AttributeError: Jinja would turn those into an Undefined.
    """


def _describe(key: tuple) -> str:
    return ".".join(str(part) for part in key) or "(the whole file)"


class Null:
    """A JSON null: false in `{% if %}`, equal to None, and refused where a page prints or computes it."""

    __slots__ = ("where",)

    def __init__(self, where: str):
        self.where = where

    def __bool__(self) -> bool:
        return False

    def __eq__(self, other: Any) -> bool:
        return other is None or isinstance(other, Null)

    __hash__ = None

    def _refuse(self, other: Any) -> bool:
        raise PageValueError(f"{self.where}: nothing to compare; {REGENERATE}")

    __lt__ = __le__ = __gt__ = __ge__ = _refuse

    def __repr__(self) -> str:
        return self.where


class Record:
    """A JSON object or array in one asset file, read when a page first reads a key of it.

    A missing key, a NaN or an infinity raises an error naming the file and the key. It has no
    public methods, so that a key such as `items` or `values` is read as a key.
    """

    __slots__ = ("_read", "_file", "_key")

    def __init__(self, read: Callable[[], Any], file: str, key: tuple = ()):
        self._read, self._file, self._key = read, file, key

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)   # Python and Jinja internals (__html__, __iter__ probes...)
        return self[name]

    def __getitem__(self, part: str | int) -> Any:
        data, key = self._read(), (*self._key, part)
        if isinstance(data, dict) and part in data:
            value = data[part]
        elif isinstance(data, list) and isinstance(part, int) and -len(data) <= part < len(data):
            value = data[part]
        else:
            raise PageValueError(f"{self._file}: no value '{_describe(key)}' (missing part '{part}'); "
                                 f"{what_regenerates(self._file)}")
        if isinstance(value, (dict, list)):
            return Record(lambda: value, self._file, key)
        if value is None:
            return Null(f"{self._file}: '{_describe(key)}' is null")
        if isinstance(value, float) and not math.isfinite(value):
            raise PageValueError(f"{self._file}: '{_describe(key)}' is {value}, not a number a page can show; "
                                 f"{what_regenerates(self._file)}")
        return value

    def __iter__(self) -> Iterator[Any]:
        data = self._read()
        return iter(data) if isinstance(data, dict) else (self[i] for i in range(len(data)))

    def __len__(self) -> int:
        return len(self._read())

    def __contains__(self, part: Any) -> bool:
        return part in self._read()

    def __repr__(self) -> str:
        return f"<{self._file}: {_describe(self._key)}>"


class Assets:
    """`asset("runs/x/metrics.json")`: a file under docs/assets/, read once per build, on first use."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._cache: dict[str, Any] = {}

    def __call__(self, path: str) -> Record:
        where = f"docs/assets/{path}"
        if not path.endswith(".json") or ".." in Path(path).parts:
            raise PageValueError(f"{where}: pages read .json files under docs/assets/ only")
        return Record(lambda: self._load(path, where), where)

    def _load(self, path: str, where: str) -> Any:
        if path not in self._cache:
            try:
                data = json.loads((self.folder / path).read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise PageValueError(f"{where} does not exist; {what_regenerates(where)}") from None
            except (OSError, ValueError) as err:
                raise PageValueError(f"{where}: cannot read it ({err}); {what_regenerates(where)}") from None
            if not isinstance(data, (dict, list)):
                raise PageValueError(f"{where}: expected a JSON object or array; {what_regenerates(where)}")
            self._cache[path] = data
        return self._cache[path]


class Folder:
    """`tables.beta` or `runs["mnist-conv-z2"]`: one item of an asset folder, by name."""

    def __init__(self, item: Callable[[str], Any]):
        self._item = item

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._item(name)

    def __getitem__(self, name: str) -> Any:
        return self._item(name)
