"""s3:// bundle storage against moto's S3 in server mode (real HTTP, as s3fs's own tests do)."""

from __future__ import annotations

import logging
import traceback

import pytest

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from submarine_kernel.algorithm import MANIFEST_NAME, Bundle  # noqa: E402
from submarine_kernel.errors import StorageError  # noqa: E402
from submarine_kernel.storage import Storage, fetch_bundle, open_filesystem  # noqa: E402

KEY = "AKIASUBMARINESENTINEL"
SECRET = "sUbMaRiNe/SeCrEt+sentinel0123456789abcdef"
BUCKET = "bundles"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(endpoint, monkeypatch):
    """A fresh moto S3 with one bucket, and an environment that cannot reach real AWS."""
    import boto3
    import requests

    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key-should-not-be-used")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-should-not-be-used")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                          region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def options(endpoint, **extra):
    return {"endpoint_url": endpoint, "key": KEY, "secret": SECRET, "region": "us-east-1", **extra}


def bundle(**files: bytes) -> Bundle:
    return Bundle(files or {"train.py": b"print('hello')\n", "utils/data.py": b"X = 1\n"})


def keys(client, prefix: str = "") -> list[str]:
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_upload_then_fetch(s3, endpoint, tmp_path):
    b = bundle()
    storage = Storage(f"s3://{BUCKET}/submarine", options(endpoint), progress=False)
    result = storage.put(b)
    assert result.uri == f"s3://{BUCKET}/submarine/{b.digest}" and not result.reused
    assert result.bytes_uploaded == b.size + len(b.manifest_bytes())
    assert keys(s3) == sorted(f"submarine/{b.digest}/{n}" for n in (*b.files, MANIFEST_NAME))
    assert storage.stored_state(b) == "complete"
    fetch_bundle(result.uri, tmp_path / "out", options(endpoint))
    assert (tmp_path / "out" / "utils" / "data.py").read_bytes() == b"X = 1\n"


def test_an_unchanged_rerun_uploads_nothing(s3, endpoint):
    b = bundle()
    Storage(f"s3a://{BUCKET}/root", options(endpoint), progress=False).put(b)
    before = {o["Key"]: o["LastModified"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    again = Storage(f"s3a://{BUCKET}/root", options(endpoint), progress=False).put(b)
    assert again.bytes_uploaded == 0 and again.reused
    assert {o["Key"]: o["LastModified"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]} == before


def test_large_files_go_up_in_parts_with_progress(s3, endpoint):
    fs, path = open_filesystem(f"s3://{BUCKET}/big", options(endpoint, part_size=5 * MiB, multipart_threshold=10 * MiB))
    data = bytes(range(256)) * (11 * MiB // 256)
    progress: list[int] = []
    fs.pipe_file(f"{path}/weights.bin", data, callback=progress.append)
    assert sorted(progress) == [MiB, 5 * MiB, 5 * MiB]  # parts go up concurrently: any order
    head = s3.head_object(Bucket=BUCKET, Key="big/weights.bin")
    assert head["ETag"].endswith('-3"') and head["ContentLength"] == len(data)


def test_each_file_goes_up_with_the_manifests_sha256_for_s3_to_check(s3, endpoint):
    """Every single-PUT file (the manifest too) carries x-amz-checksum-sha256, the manifest's hash of it, which
    S3 checks on arrival (BadDigest otherwise; moto does not check, so the headers are read as sent); parts of
    a multipart upload keep botocore's own per-part checksum."""
    import base64
    import hashlib
    import json

    from fsspec.asyn import sync

    b = bundle(**{"model.bin": b"\x07" * (11 * MiB), "train.py": b"print(1)\n", "utils/data.py": b"X = 1\n"})
    storage = Storage(f"s3://{BUCKET}/sums", options(endpoint, part_size=5 * MiB, multipart_threshold=10 * MiB),
                      progress=False)
    sync(storage.fs.loop, storage.fs.set_session)  # the client put will use, so its requests can be watched
    sent: dict[str, list[tuple[str | None, str]]] = {}

    def watch(request, **_):
        key = request.url.split(f"/{BUCKET}/", 1)[1].split("?", 1)[0]
        header = request.headers.get("x-amz-checksum-sha256")
        body = request.body.getvalue() if hasattr(request.body, "getvalue") else bytes(request.body)
        sent.setdefault(key, []).append((header.decode() if isinstance(header, bytes) else header,
                                         base64.b64encode(hashlib.sha256(body).digest()).decode()))

    storage.fs.s3.meta.events.register("before-send.s3.PutObject", watch)
    storage.fs.s3.meta.events.register("before-send.s3.UploadPart", watch)
    storage.put(b)
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"sums/{b.digest}/{MANIFEST_NAME}")["Body"].read())
    listed = {e["name"]: base64.b64encode(bytes.fromhex(e["sha256"])).decode() for e in manifest["files"]}
    for name in ("train.py", "utils/data.py"):
        assert sent[f"sums/{b.digest}/{name}"] == [(listed[name], listed[name])]
    (header, body_hash), = sent[f"sums/{b.digest}/{MANIFEST_NAME}"]
    assert header == body_hash
    parts = sent[f"sums/{b.digest}/model.bin"]
    assert len(parts) == 3 and all(header is None for header, _ in parts)


class RecordingBar:
    def __init__(self):
        self.updates: list[int] = []

    def update(self, n: int) -> None:
        self.updates.append(n)

    def close(self) -> None:
        pass


def test_the_progress_bar_moves_per_part_and_a_retried_file_starts_over(s3, endpoint, monkeypatch):
    b = bundle(**{"model.bin": b"\x07" * (11 * MiB), "train.py": b"print(1)\n"})
    storage = Storage(f"s3://{BUCKET}/bar", options(endpoint, part_size=5 * MiB, multipart_threshold=10 * MiB), progress=True)
    bar = RecordingBar()
    monkeypatch.setattr(storage, "_progress_bar", lambda total: bar)
    original, seen = storage.fs._call_s3, {"n": 0}

    async def blip(name, *args, **kwargs):  # the connection drops once, on the second part
        if name == "upload_part":
            seen["n"] += 1
            if seen["n"] == 2:
                raise ConnectionError("connection reset (injected)")
        return await original(name, *args, **kwargs)

    storage.fs._call_s3 = blip
    storage.put(b)
    # files and parts go up concurrently, so their order varies; the failed attempt is taken back once
    # (when the failure came before anything was counted, there is nothing to take back)
    negatives = [i for i, n in enumerate(bar.updates) if n < 0]
    assert len(negatives) <= 1
    retried = negatives[0] + 1 if negatives else 0
    if negatives:
        assert -bar.updates[negatives[0]] == sum(bar.updates[:negatives[0]]) > 0
    assert sorted(bar.updates[retried:]) == sorted([5 * MiB, 5 * MiB, MiB, len(b"print(1)\n")])
    assert sum(bar.updates) == b.size


def fail_on(fs, method: str, call: int):
    """Make the `call`-th S3 request of `method` fail for good, as credentials expiring mid-upload do
    (an error that no retry fixes, so the upload really stops half-way)."""
    original = fs._call_s3
    seen = {"n": 0}

    async def flaky(name, *args, **kwargs):
        if name == method:
            seen["n"] += 1
            if seen["n"] == call:
                raise PermissionError("ExpiredToken: the session token expired (injected)")
        return await original(name, *args, **kwargs)

    fs._call_s3 = flaky


@pytest.mark.parametrize("method,call", [("upload_part", 2), ("put_object", 2)])
def test_an_interrupted_upload_never_looks_complete(s3, endpoint, method, call):
    b = bundle(**{"a.py": b"a = 1\n", "model.bin": b"\x00" * (11 * MiB), "z.py": b"z = 1\n"})
    storage = Storage(f"s3://{BUCKET}/root", options(endpoint, part_size=5 * MiB, multipart_threshold=10 * MiB), progress=False)
    fail_on(storage.fs, method, call)
    with pytest.raises(StorageError, match="run again"):
        storage.put(b)
    assert storage.stored_state(b) != "complete"
    assert f"root/{b.digest}/{MANIFEST_NAME}" not in keys(s3)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []  # aborted, nothing billed

    retry = Storage(f"s3://{BUCKET}/root", options(endpoint, part_size=5 * MiB, multipart_threshold=10 * MiB), progress=False).put(b)
    assert not retry.reused and retry.bytes_uploaded > b.size
    assert Storage(f"s3://{BUCKET}/root", options(endpoint), progress=False).stored_state(b) == "complete"
    body = s3.get_object(Bucket=BUCKET, Key=f"root/{b.digest}/model.bin")["Body"].read()
    assert body == b"\x00" * (11 * MiB)


def test_credentials_never_appear(s3, endpoint, capsys, caplog):
    caplog.set_level(logging.INFO)
    b = bundle(**{"big.bin": b"\x01" * (5 * MiB), "train.py": b"print(1)\n"})
    storage = Storage(f"s3://{BUCKET}/root", options(endpoint), progress=True)  # with a progress bar
    storage.put(b)
    missing = Storage("s3://no-such-bucket/root", options(endpoint), progress=False)
    with pytest.raises(StorageError) as caught:
        missing.put(b)
    with pytest.raises(StorageError) as in_url:
        open_filesystem(f"s3://{KEY}:{SECRET}@{BUCKET}/root", {})
    flaky = Storage(f"s3://{BUCKET}/other", options(endpoint), progress=False)
    fail_on(flaky.fs, "put_object", 1)
    with pytest.raises(StorageError) as injected:
        flaky.put(b)
    out = capsys.readouterr()
    texts = [out.out, out.err, caplog.text, repr(storage), repr(storage.fs), str(storage.fs), repr(missing.fs)]
    for exc in (caught.value, in_url.value, injected.value):
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for text in texts:
        assert KEY not in text and SECRET not in text, text
    assert "no-such-bucket" in str(caught.value) and "carries credentials" in str(in_url.value)
    with pytest.raises(TypeError, match="not picklable"):
        __import__("pickle").dumps(storage.fs)


def test_a_client_made_in_the_background_that_fails_is_one_line_from_put(s3, endpoint, monkeypatch):
    """put makes the S3 client while it hashes the bundle (storage/s3.py `connect_soon`); a client that cannot
    be made (a bad endpoint, a broken credentials chain) is still the one-line error of the listing after it."""
    import s3fs

    made = []

    async def broken(self, *args, **kwargs):
        made.append(1)
        raise OSError(f"cannot make the client for {SECRET}")

    monkeypatch.setattr(s3fs.S3FileSystem, "set_session", broken)
    storage = Storage(f"s3://{BUCKET}/root", options(endpoint), progress=False)
    with pytest.raises(StorageError, match=r"^cannot reach the bundle storage s3://bundles/root: cannot make the "
                                           r"client for \*\*\*; check the storage root") as caught:
        storage.put(bundle())
    assert len(made) == 2 and SECRET not in str(caught.value)  # in the background, then for the listing
    assert keys(s3) == []


def test_secrets_in_error_messages_are_scrubbed(s3, endpoint, monkeypatch):
    import s3fs

    fs, path = open_filesystem(f"s3://{BUCKET}/x", options(endpoint))

    async def echoing_server(self, method, *args, **kwargs):  # an S3 peer that echoes credentials back
        raise PermissionError(f"The AWS Access Key Id {KEY} with secret {SECRET} does not exist")

    monkeypatch.setattr(s3fs.S3FileSystem, "_call_s3", echoing_server)
    with pytest.raises(PermissionError) as caught:
        fs.pipe_file(f"{path}/a.txt", b"a")
    assert KEY not in str(caught.value) and SECRET not in str(caught.value) and "***" in str(caught.value)


def test_unknown_options_are_refused(endpoint):
    with pytest.raises(StorageError, match="unknown S3 storage option 'endpoint_uri'"):
        open_filesystem(f"s3://{BUCKET}/x", {"endpoint_uri": endpoint})
    with pytest.raises(StorageError, match="names no bucket"):
        open_filesystem("s3:///x", {})


def aws_cli_runs() -> bool:
    """Whether an `aws` (the AWS CLI the fetch image runs) answers on PATH."""
    import shutil
    import subprocess

    try:
        return bool(shutil.which("aws")) and subprocess.run(["aws", "--version"], capture_output=True,
                                                            timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not aws_cli_runs(), reason="no working AWS CLI (the fetch image's `aws`) on PATH: pip install "
                    "awscli into a venv of its own (its pins clash with the test extra's) and put it on PATH")
def test_the_kubernetes_fetch_container_copies_only_the_submitted_files_and_checks_them(s3, endpoint, tmp_path):
    # The init container's script with the real AWS CLI against moto: only the submitted files reach the
    # algorithm folder (not what else lies in the store's folder), and a file changed in the store stops it.
    import os
    import subprocess

    from submarine_kernel.runtimes.kubernetes import KubernetesRuntime
    from submarine_kernel.spec import build_spec
    from submarine_kernel.storage.integrity import REPLICA_CHECK_EXIT

    bundle = Bundle({"train.py": b"print('train')\n", "utils/data.py": b"X = 1\n"})
    stored = Storage(f"s3://{BUCKET}/store", options(endpoint), progress=False).put(bundle)
    prefix = stored.uri.split(f"s3://{BUCKET}/", 1)[1]
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/sitecustomize.py", Body=b"print('planted')\n")
    spec = build_spec("fetch-job", framework="pytorch", workers=1, image="img", command="python train.py")
    plan = KubernetesRuntime(namespace="ml", api="training-operator", bundle_delivery="storage",
                             s3_endpoint_url=endpoint).plan(spec, bundle, stored.uri)
    init = plan.job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["initContainers"][0]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}

    def fetch(workspace):
        script = init["command"][2].replace("/submarine-workspace", str(workspace))
        return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=120, env=env)

    fetched = fetch(tmp_path / "ok")
    assert fetched.returncode == 0, fetched.stderr
    folder = tmp_path / "ok" / "submarine_algorithm"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == ["train.py", "utils/data.py"]
    assert (tmp_path / "ok" / "utils" / "data.py").read_bytes() == b"X = 1\n"

    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/train.py", Body=b"print('tampered')\n")
    refused = fetch(tmp_path / "changed")
    assert refused.returncode == REPLICA_CHECK_EXIT, refused
    assert "train.py: FAILED" in refused.stderr and "submit the job again" in refused.stderr
    assert not (tmp_path / "changed" / "train.py").exists()
