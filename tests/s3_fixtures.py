"""A real S3-compatible server for the tests: moto's standalone server on a loopback port.

``moto_s3`` (session) starts ``python -m moto.server`` in a subprocess with
authentication enforced (``INITIAL_NO_AUTH_ACTION_COUNT``: the first three
requests create an IAM user and its access key, every later request must be
signed with that key, so wrong credentials are refused as on AWS), creates a
bucket and exports the usual variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ...) so that fsspec/s3fs, TensorBoard and worker
subprocesses find it. The fixtures are imported once, by ``tests/conftest.py``: importing a
session fixture into several test modules makes one server per module, and a later module's
requests would then be signed with its own key but sent to the first server's endpoint.
"""

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

BUCKET = "dvi-test"
_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port: int, timeout: float = 30.0, proc=None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop_and_restore(proc, saved: dict) -> None:
    """Stop a server process (in memory: nothing to flush) and put the variables back."""
    proc.kill()
    proc.wait()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def clear_fs_cache() -> None:
    """Forget cached s3fs instances and boto3's default session (TensorBoard's S3 client uses
    it): both keep the credentials and endpoint they were made with."""
    import boto3
    import s3fs
    s3fs.S3FileSystem.clear_instance_cache()
    boto3.DEFAULT_SESSION = None


class MotoS3:
    def __init__(self, endpoint: str, key: str, secret: str, bucket: str):
        self.endpoint, self.key, self.secret, self.bucket = endpoint, key, secret, bucket

    @property
    def env(self) -> dict:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.key,
                "AWS_SECRET_ACCESS_KEY": self.secret, "AWS_DEFAULT_REGION": "us-east-1",
                "FSSPEC_S3_ENDPOINT_URL": self.endpoint}

    def url(self, *parts: str) -> str:
        return "s3://" + "/".join((self.bucket,) + parts)

    def fs(self):
        import s3fs
        return s3fs.S3FileSystem(key=self.key, secret=self.secret, endpoint_url=self.endpoint,
                                 skip_instance_cache=True)


@pytest.fixture(scope="session")
def moto_s3():
    port = free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_DEFAULT_REGION", "FSSPEC_S3_ENDPOINT_URL")}
    try:
        wait_port(port, proc=proc)
        import boto3
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam.create_user(UserName="dvi")
        iam.put_user_policy(UserName="dvi", PolicyName="all", PolicyDocument=_POLICY)
        key = iam.create_access_key(UserName="dvi")["AccessKey"]
        server = MotoS3(endpoint, key["AccessKeyId"], key["SecretAccessKey"], BUCKET)
        # fsspec copies FSSPEC_* variables into its config once, at import: import it before they are
        # set, so that in this process the endpoint comes from AWS_ENDPOINT_URL (which tests may
        # change) and FSSPEC_S3_ENDPOINT_URL only reaches subprocesses.
        import fsspec.config  # noqa: F401
        os.environ.update(server.env)
        clear_fs_cache()
        server.fs().mkdir(BUCKET)
        yield server
    finally:
        stop_and_restore(proc, saved)
        clear_fs_cache()


@pytest.fixture
def s3_prefix(moto_s3):
    """A fresh ``s3://bucket/<hex>`` prefix per test (the server is shared by the session)."""
    clear_fs_cache()
    return moto_s3.url(uuid.uuid4().hex[:10])


@pytest.fixture
def threaded_moto():
    """moto's server in a thread of this process, on a fixed port: stop() and start() again keep
    its data (the backends live in this process), which lets a test drop the server mid-write."""
    from moto.server import ThreadedMotoServer

    port = free_port()

    class Handle:
        endpoint = f"http://127.0.0.1:{port}"

        def __init__(self):
            self.server = None

        def start(self):
            self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            self.server.start()
            wait_port(port)

        def stop(self):
            self.server.stop()

    h = Handle()
    h.start()
    yield h
    try:
        h.stop()
    except Exception:  # noqa: BLE001 (stopped by the test already)
        pass
