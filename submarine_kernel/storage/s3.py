"""s3:// (and s3a://) bundle storage through s3fs: AWS S3 or any S3-compatible store (MinIO, Ceph...).

Imported by `storage.filesystems` when an s3:// URL is first used. Credentials, region and endpoint come from
`SubmarineConfig.storage_options` or, when absent there, from the usual AWS sources that botocore reads
(AWS_* environment variables, AWS_PROFILE and ~/.aws files, instance or pod roles). They are never
printed: the file system's repr shows none, and error messages are scrubbed of every credential value.
Files of `multipart_threshold` bytes or more (64 MiB by default, near s3fs's own 50 MiB) go up as multipart
uploads, several parts at a time, reporting progress per part; a failed multipart upload is aborted, so no
half-written object ever appears. Smaller files are one PUT each, which is also what is fastest for them.
"""

from __future__ import annotations

import base64
import os
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from ..errors import StorageError
from ..secrets import redact_text, redact_url
from .filesystems import register_filesystem

#: multipart part size (S3's minimum is 5 MiB)
PART_SIZE = 8 * 1024 * 1024
#: files this large or larger go up in parts
MULTIPART_THRESHOLD = 64 * 1024 * 1024
#: parts of one file in flight at once
PART_CONCURRENCY = 4
_ENV_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
#: storage_options keys we accept, and the s3fs argument each becomes
_ALIASES = {
    "key": "key", "aws_access_key_id": "key", "access_key": "key",
    "secret": "secret", "aws_secret_access_key": "secret", "secret_key": "secret",
    "token": "token", "aws_session_token": "token", "session_token": "token",
    "endpoint_url": "endpoint_url", "endpoint": "endpoint_url",
    "profile": "profile", "region": "region", "region_name": "region",
    "anon": "anon", "part_size": "part_size", "multipart_threshold": "multipart_threshold",
    "client_kwargs": "client_kwargs", "config_kwargs": "config_kwargs", "s3_additional_kwargs": "s3_additional_kwargs",
}


def s3_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """storage_options in any common spelling → S3FileSystem arguments; unknown keys are refused."""
    out: dict[str, Any] = {}
    verify = None
    for name, value in options.items():
        if name.lower() in ("verify", "verify_tls"):
            verify = value
            continue
        target = _ALIASES.get(name.lower())
        if target is None:
            raise StorageError(f"unknown S3 storage option {name!r}: use endpoint_url, region, profile, key, "
                               "secret, token, anon, part_size, multipart_threshold or verify")
        out[target] = value
    if verify is not None:
        # TLS verification is botocore's default (True); only an explicit False (or a CA bundle path) changes it
        if isinstance(verify, str) and verify.lower() in ("true", "false"):
            verify = verify.lower() == "true"
        if not isinstance(verify, (bool, str)) or verify == "":
            raise StorageError(f"S3 storage option verify must be True, False or a CA bundle path, not {verify!r}")
        out["client_kwargs"] = {**(out.get("client_kwargs") or {}), "verify": verify}
    return out


def open_s3(url: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    """The file system and bucket/key path for an s3:// or s3a:// URL (registered with `storage.filesystems`)."""
    parts = urlsplit(url)
    # Bucket names never hold ':' or '@', so either means KEY:SECRET@ (a secret may even hold '/', which
    # hides it from urlsplit's username/password); the URL is not repeated, as it cannot be redacted safely.
    if ":" in parts.netloc or "@" in parts.netloc:
        raise StorageError("the s3:// storage URL carries credentials (s3://KEY:SECRET@bucket): put them in "
                           "SubmarineConfig.storage_options or the usual AWS sources instead")
    if not parts.netloc:
        raise StorageError(f"the storage URL {url!r} names no bucket: write s3://BUCKET/PREFIX")
    fs = SubmarineS3FileSystem.create(**s3_options(options))
    return fs, f"{parts.netloc}{parts.path}".rstrip("/")


def _s3fs_class():
    try:
        import s3fs
    except ModuleNotFoundError as exc:
        raise StorageError(f"s3:// storage needs the package {exc.name!r}: "
                           "pip install 'submarine-kernel[s3]'") from None
    return s3fs.S3FileSystem


class _Factory:
    """Builds the S3FileSystem subclass on first use, so that s3fs is imported only then."""

    _cls = None

    def create(self, **kwargs):
        if _Factory._cls is None:
            _Factory._cls = _define_filesystem(_s3fs_class())
        # Our own instance: fsspec's cache could hand back one that carries another caller's credentials.
        return _Factory._cls(skip_instance_cache=True, **kwargs)


SubmarineS3FileSystem = _Factory()


def _define_filesystem(base):
    class S3Storage(base):
        """S3FileSystem that keeps credentials out of reprs and error messages, and uploads large files in
        parts with a progress callback."""

        def __init__(self, *, region: str | None = None, part_size: int = PART_SIZE,
                     multipart_threshold: int = MULTIPART_THRESHOLD, **kwargs):
            if region:
                kwargs.setdefault("client_kwargs", {})
                kwargs["client_kwargs"] = {**kwargs["client_kwargs"], "region_name": region}
            self._secrets = tuple(str(kwargs[k]) for k in ("key", "secret", "token") if kwargs.get(k))
            self.part_size = max(int(part_size), 5 * 1024 * 1024)
            self.multipart_threshold = max(int(multipart_threshold), self.part_size)
            self._endpoint = kwargs.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3") or \
                os.environ.get("AWS_ENDPOINT_URL") or "AWS"
            super().__init__(**kwargs)

        def __repr__(self) -> str:
            return f"<S3 storage at {redact_url(self._endpoint)}>"

        __str__ = __repr__

        def __reduce__(self):  # pickling would copy the credentials into the pickle
            raise TypeError("S3 storage file systems are not picklable: they hold credentials")

        def connect_soon(self):
            """Start making the S3 client (botocore's models loaded, a client built: tenths of a second of CPU)
            on the file system's own loop thread, and return its future at once, so that the caller can hash
            the bundle meanwhile (hashlib works without the GIL)."""
            import asyncio

            return asyncio.run_coroutine_threadsafe(self.set_session(), self.loop)

        def find_below(self, path: str) -> dict[str, dict]:
            """Every object under `path`/ with its details, in one listing (what `Storage` compares a bundle
            with): s3fs's `find` also asks whether `path` itself is an object, a HEAD and a second listing,
            whenever nothing is below it, as before every fresh upload."""
            from fsspec.asyn import sync

            return {o["name"]: o for o in sync(self.loop, self._lsdir, path, refresh=True, delimiter="")
                    if o.get("type") != "directory"}

        def scrub(self, text: str) -> str:
            """`text` with every credential value replaced by ***."""
            return redact_text(text, (*self._secrets, *(os.environ.get(v, "") for v in _ENV_SECRETS)))

        async def _call_s3(self, method, *args, **kwargs):
            try:
                return await super()._call_s3(method, *args, **kwargs)
            except OSError as exc:
                raise self._scrubbed(exc) from None
            except Exception as exc:  # botocore errors s3fs does not translate (no credentials, bad endpoint)
                name = type(exc).__name__
                if "Credential" in name:
                    raise PermissionError(f"no usable AWS credentials ({name}): set key/secret or profile in "
                                          "SubmarineConfig.storage_options, or AWS_PROFILE / AWS_ACCESS_KEY_ID") \
                        from None
                raise OSError(self.scrub(f"{name}: {exc}")) from None

        def _scrubbed(self, exc: OSError) -> OSError:
            exc.args = tuple(self.scrub(a) if isinstance(a, str) else a for a in exc.args)
            if isinstance(exc.strerror, str):
                exc.strerror = self.scrub(exc.strerror)
            exc.__cause__ = None
            exc.__suppress_context__ = True
            return exc

        async def _pipe_file(self, path, data, chunksize=None, callback: Callable[[int], Any] | None = None,
                             sha256_of: Mapping[str, str] | None = None, **kwargs):
            """Write `data` to `path`: one PUT, or a multipart upload from `multipart_threshold` bytes on;
            `callback(n)` is called after each part (or once) with the bytes just sent.

            `sha256_of` maps paths to the hex sha256 of their data, as the bundle's manifest lists them (a
            mapping, so that one concurrent `pipe` of many files can carry it). A PUT sends its file's as
            x-amz-checksum-sha256: S3 refuses bytes that do not match it (BadDigest), so a stored file is
            checked against the manifest on arrival, and botocore skips the CRC32 it would compute instead.
            Multipart uploads keep botocore's per-part checksums (a sha256 of the whole file is not one S3 can
            check against parts)."""
            chunksize = chunksize or self.part_size
            if len(data) < self.multipart_threshold:
                known = (sha256_of or {}).get(path)
                if known:
                    kwargs["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(known)).decode("ascii")
                out = await super()._pipe_file(path, data, chunksize=max(chunksize, len(data) + 1), **kwargs)
                if callback is not None:
                    callback(len(data))
                return out
            import asyncio

            bucket, key, _ = self.split_path(path)
            upload = await self._call_s3("create_multipart_upload", Bucket=bucket, Key=key, **kwargs)
            slots = asyncio.Semaphore(PART_CONCURRENCY)

            async def send(number: int, chunk: bytes) -> dict:
                async with slots:
                    sent = await self._call_s3("upload_part", Bucket=bucket, Key=key, PartNumber=number,
                                               UploadId=upload["UploadId"], Body=chunk)
                if callback is not None:
                    callback(len(chunk))
                return {"PartNumber": number, "ETag": sent["ETag"]}

            try:
                parts = await asyncio.gather(*(send(number, data[start:start + chunksize]) for number, start
                                               in enumerate(range(0, len(data), chunksize), start=1)))
                out = await self._call_s3("complete_multipart_upload", Bucket=bucket, Key=key,
                                          UploadId=upload["UploadId"], MultipartUpload={"Parts": list(parts)})
            except BaseException:
                # Nothing half-written may remain: S3 keeps the parts of an unfinished upload (and bills them).
                try:
                    await self._call_s3("abort_multipart_upload", Bucket=bucket, Key=key,
                                        UploadId=upload["UploadId"])
                except OSError:
                    pass
                raise
            self.invalidate_cache(path)
            return out

    return S3Storage


register_filesystem("s3", open_s3)
register_filesystem("s3a", open_s3)
