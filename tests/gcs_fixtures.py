"""A local Google Cloud Storage server for the tests: the ``gcp-storage-emulator`` package.

``gcs_emulator`` (session) starts ``python -m gcp_storage_emulator start --in-memory`` on a
loopback port with one bucket, and points gcsfs at it the way a user would point it at any
GCS-compatible endpoint: ``STORAGE_EMULATOR_HOST`` (gcsfs's documented emulator setting) and
anonymous credentials through fsspec's config (``FSSPEC_GCS_TOKEN=anon``). Two more settings
are needed against an emulator: ``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` (otherwise gcsfs
asks the gRPC storage-control API for each bucket's type and waits 60 s for an answer an
emulator cannot give) and the in-process fsspec config, which copies ``FSSPEC_*`` variables
only once, at import. Imported once, by ``tests/conftest.py`` (one server per session).
"""

import os
import subprocess
import sys
import uuid

import pytest
from s3_fixtures import free_port, stop_and_restore, wait_port

BUCKET = "dvi-gcs-test"
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


class GcsEmulator:
    def __init__(self, endpoint: str, bucket: str):
        self.endpoint, self.bucket = endpoint, bucket

    @property
    def env(self) -> dict:
        return {"STORAGE_EMULATOR_HOST": self.endpoint, "FSSPEC_GCS_TOKEN": "anon"}

    def url(self, *parts: str) -> str:
        return "gs://" + "/".join((self.bucket,) + parts)


@pytest.fixture(scope="session")
def gcs_emulator():
    pytest.importorskip("gcsfs")
    pytest.importorskip("gcp_storage_emulator")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gcp_storage_emulator", "start", "-H", "127.0.0.1",
                             "--port", str(port), "--in-memory", "--default-bucket", BUCKET, "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = GcsEmulator(f"http://127.0.0.1:{port}", BUCKET)
    saved = {k: os.environ.get(k) for k in server.env}
    import fsspec.config
    saved_conf = fsspec.config.conf.get("gcs")
    try:
        wait_port(port, proc=proc)
        os.environ.update(server.env)
        fsspec.config.conf["gcs"] = dict(saved_conf or {}, token="anon")
        import gcsfs
        gcsfs.GCSFileSystem.clear_instance_cache()
        yield server
    finally:
        stop_and_restore(proc, saved)
        if saved_conf is None:
            fsspec.config.conf.pop("gcs", None)
        else:
            fsspec.config.conf["gcs"] = saved_conf


@pytest.fixture
def gcs_prefix(gcs_emulator):
    """A fresh ``gs://bucket/<hex>`` prefix per test (the emulator is shared by the session)."""
    return gcs_emulator.url(uuid.uuid4().hex[:10])
