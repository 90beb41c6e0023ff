"""Which fsspec file system opens a storage URL: protocols that need more than fsspec's defaults (hdfs over
WebHDFS, s3 options) register a factory by protocol name, imported only when that protocol is first used.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from ..errors import StorageError
from ..secrets import redact_url

#: protocol → factory(url, options) returning (fsspec file system, path inside it)
FileSystemFactory = Callable[[str, Mapping[str, Any]], tuple[Any, str]]
_FACTORIES: dict[str, FileSystemFactory] = {}

#: storage options read by Storage itself (its layout), never handed to a file system
LAYOUT_OPTIONS = ("layout", "notebook_id")


def register_filesystem(protocol: str, factory: FileSystemFactory) -> None:
    """Let `protocol://` URLs be opened by `factory` instead of plain `fsspec.url_to_fs`."""
    _FACTORIES[protocol] = factory


def open_filesystem(url: str, options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """(file system, path) for a URL; a bare path is a local path."""
    import fsspec

    protocol = urlsplit(url).scheme if "://" in url else "file"
    options = {k: v for k, v in dict(options or {}).items() if k not in LAYOUT_OPTIONS}
    _load_builtin_factories(protocol)
    if protocol in _FACTORIES:
        return _FACTORIES[protocol](url, options)
    try:
        return fsspec.core.url_to_fs(url, **options)
    except (ImportError, ValueError) as exc:
        raise StorageError(f"cannot open storage {redact_url(url)!r}: {exc}") from None


def _load_builtin_factories(protocol: str) -> None:
    """Import the module that registers a built-in protocol, only when that protocol is first used."""
    webhdfs, s3 = "submarine_kernel.storage.webhdfs", "submarine_kernel.storage.s3"
    modules = {"hdfs": webhdfs, "webhdfs": webhdfs, "swebhdfs": webhdfs, "s3": s3, "s3a": s3}
    if protocol in modules and protocol not in _FACTORIES:
        import importlib

        try:
            importlib.import_module(modules[protocol])
        except ModuleNotFoundError as exc:
            if exc.name == modules[protocol]:
                return  # no special handling shipped: fall back to fsspec
            raise StorageError(f"storage {protocol}:// needs the package {exc.name!r}: "
                               f"pip install 'submarine-kernel[{protocol}]'") from None
