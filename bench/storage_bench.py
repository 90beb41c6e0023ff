"""The storage section: uploading a bundle to moto's S3 server through the project's Storage against boto3's
own multipart upload, and what a re-upload of the same content costs."""

from __future__ import annotations

import gc
import logging
import os
import random
import statistics
import threading
import time
from contextlib import contextmanager

from bench_table import Row, section


MB = 1000 * 1000
#: the storage bench's bundle: a few files of random bytes, 50 MB in all (two of them span several parts)
STORAGE_FILES = {"data/shard-0.bin": 20 * MB, "data/shard-1.bin": 15 * MB, "model.bin": 10 * MB,
                 "vocab.bin": 5 * MB - 4096, "train.py": 4096}
#: the least number of (ours, raw) upload pairs the S3 row's medians are taken over
STORAGE_PAIRS = 15
S3_KEY, S3_SECRET, S3_BUCKET = "AKIABENCHFAKEKEY0000", "bench/fake/secret/0000000000000000000000", "bench"


def _moto_server():
    """moto's ThreadedMotoServer on 127.0.0.1 (random port), counting the requests and body bytes it gets."""
    from moto.server import DomainDispatcherApplication, ThreadedMotoServer, create_backend_app
    from werkzeug.serving import make_server

    class CountingMotoServer(ThreadedMotoServer):
        def __init__(self):
            super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
            self.lock = threading.Lock()
            self.requests: list[tuple[str, str, int]] = []  # (method, path, body bytes)

        def _server_entry(self) -> None:  # ThreadedMotoServer's, with the app wrapped
            app = DomainDispatcherApplication(create_backend_app)

            def counting(environ, start_response):
                size = int(environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH") or environ.get("CONTENT_LENGTH") or 0)
                with self.lock:
                    self.requests.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), size))
                return app(environ, start_response)

            self._server = make_server(self._ip_address, self._port, counting, True)
            self._server_ready_event.set()
            self._server.serve_forever()

        def mark(self) -> int:
            with self.lock:
                return len(self.requests)

        def since(self, mark: int) -> list[tuple[str, str, int]]:
            with self.lock:
                return self.requests[mark:]

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    server = CountingMotoServer()
    server.start()
    return server


@contextmanager
def _fake_aws_env():
    """Fake credentials, and nothing that could reach real AWS or read the user's AWS files."""
    saved = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update({"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET,
                       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                       "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@section("storage")
def bench_storage(args) -> list[Row]:
    """A 50 MB bundle to moto's S3 through Storage.put vs a raw s3fs pipe of the same files (fresh prefix and
    fresh file system each run, as each run of a notebook has), then an unchanged re-run, counted at the server."""
    import boto3  # noqa: F401 - a missing one skips the section (run_section) before anything starts
    import s3fs
    from moto.server import ThreadedMotoServer  # noqa: F401
    from submarine_kernel.algorithm import Bundle
    from submarine_kernel.storage import Storage

    rng = random.Random(7)
    files = {name: rng.randbytes(size) for name, size in STORAGE_FILES.items()}
    total = sum(STORAGE_FILES.values())
    with _fake_aws_env():
        server = _moto_server()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            options = {"endpoint_url": endpoint, "key": S3_KEY, "secret": S3_SECRET, "region": "us-east-1"}

            def raw_fs():
                return s3fs.S3FileSystem(key=S3_KEY, secret=S3_SECRET, endpoint_url=endpoint,
                                         client_kwargs={"region_name": "us-east-1"}, skip_instance_cache=True)

            import boto3

            boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET,
                         region_name="us-east-1").create_bucket(Bucket=S3_BUCKET)

            def ours(prefix: str, bundle: Bundle):
                return Storage(f"s3://{S3_BUCKET}/{prefix}", options, progress=True).put(bundle)

            def raw(prefix: str):
                fs = raw_fs()
                fs.pipe({f"{S3_BUCKET}/{prefix}/{name}": data for name, data in files.items()})

            def clean(prefix: str):
                raw_fs().rm(f"{S3_BUCKET}/{prefix}", recursive=True)  # moto keeps objects in memory

            ours("warm", Bundle({"a.py": b"1"}))  # imports and first connections, for both clients
            raw("warm")
            ours_s, raw_s, sent, requests = [], [], [], [0, 0]
            # One upload takes about 0.3 s and moto shares the process, so a median of 5 still moved by +-0.1
            # between quiet runs; 15 alternating pairs (10 s) keep it within about +-0.03.
            for i in range(max(args.repeat, STORAGE_PAIRS)):
                bundle = Bundle(dict(files))  # hashed inside put: addressing by content is part of the layer
                for which in ((0, 1) if i % 2 == 0 else (1, 0)):  # alternate the order
                    prefix = f"run-{os.getpid()}-{i}-{'ours' if which == 0 else 'raw'}"
                    gc.collect()  # the garbage of earlier runs (clients, sessions) is nobody's upload cost
                    mark = server.mark()
                    start = time.perf_counter()
                    if which == 0:
                        result = ours(prefix, bundle)
                    else:
                        raw(prefix)
                    elapsed = time.perf_counter() - start
                    got = server.since(mark)
                    body = sum(size for method, _, size in got if method in ("PUT", "POST"))
                    if body < total:
                        raise RuntimeError(f"the server got {body} bytes for a {total}-byte bundle")
                    (ours_s if which == 0 else raw_s).append(elapsed)
                    requests[which] = len(got)
                    if which == 0:
                        mark = server.mark()
                        again = Storage(f"s3://{S3_BUCKET}/{prefix}", options, progress=True).put(bundle)
                        rerun = server.since(mark)
                        sent.append((sum(size for _, _, size in rerun), len(rerun), again.reused))
                        assert result.bytes_uploaded >= total
                    clean(prefix)
        finally:
            server.stop()
    ours_mbs = total / MB / statistics.median(ours_s)
    raw_mbs = total / MB / statistics.median(raw_s)
    ratio = ours_mbs / raw_mbs
    rerun_bytes = max(b for b, _, _ in sent)
    rerun_requests = max(n for _, n, _ in sent)
    return [
        Row("storage", "unchanged re-run: bytes sent to S3", f"{rerun_bytes} B",
            f"in {rerun_requests} request(s), {total // MB} MB bundle", "", "0", rerun_bytes == 0),
        Row("storage", f"{total / MB:.0f} MB, {len(files)} files to moto S3 (median)",
            f"{ours_mbs:.1f} MB/s Storage.put, {requests[0]} req",
            f"{raw_mbs:.1f} MB/s raw s3fs pipe, {requests[1]} req", f"{ratio:.2f}", ">= 0.9", ratio >= 0.9),
    ]
