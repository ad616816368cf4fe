"""gs:// end to end on a local GCS emulator (gcp-storage-emulator, gcsfs pointed at it through
STORAGE_EMULATOR_HOST): the writer logs a run, the reader lists and reads it through a mirror,
`tensorboard-dvi fit` publishes a shared cache there, and a fresh mirror reads that cache back."""

import numpy as np
import pytest
from conftest import make_run
from test_remote_e2e import fit_machine  # noqa: F401 (the same fit-side setup)

from tensorboard_dvi import cli, mirror
from tensorboard_dvi import fs as dfs
from tensorboard_dvi import metadata as md
from tensorboard_dvi import publish
from tensorboard_dvi.engine.cache import RunCache, default_cache_dir
from tensorboard_dvi.storage import RunReader


def test_log_read_and_fit_through_gcs(gcs_prefix, fit_machine, capsys, monkeypatch):
    logs = gcs_prefix + "/logs"
    make_run(logs + "/run", epochs=2, n_train=120, n_test=30, thumbnails=False)
    make_run(fit_machine / "local-run", epochs=2, n_train=120, n_test=30, thumbnails=False)  # same seed
    assert not (fit_machine / "gs:").exists()  # no local folder named after the scheme
    fsys, root = dfs.get_fs(logs)
    assert type(fsys).__module__.startswith("gcsfs")
    keys = fsys.find(root)
    assert any(k.endswith("run/plugins/dvi/epochs/epoch-000002.commit.json") for k in keys), keys
    # TensorBoard's event file (written by its own fsspec layer): GCS has no append, so it holds the
    # last epoch's summary only, which is what enables the tab.
    events = [k for k in keys if "events.out.tfevents" in k]
    assert len(events) == 1 and b"dvi/epoch" in fsys.cat_file(events[0])

    # The loader's view: runs listed under the logdir, epochs and arrays read through a mirror.
    assert mirror.remote_runs(logs) == ["run"]
    reader, local = RunReader(logs + "/run"), RunReader(str(fit_machine / "local-run"))
    assert reader.epochs() == [1, 2] and not reader.damaged()
    assert {k: v for k, v in reader.meta.items() if k != "created"} == \
        {k: v for k, v in local.meta.items() if k != "created"}
    assert np.array_equal(reader.static().labels, local.static().labels)
    for e in (1, 2):  # the same arrays as the same run written to a local folder
        np.testing.assert_array_equal(reader.epoch(e).representations, local.epoch(e).representations)

    # fit publishes a cache on gs://; a reader with an empty mirror gets every epoch back whole.
    cache_root = gcs_prefix + "/dvi-cache"
    assert cli.main(["fit", logs, "--all-runs", "--cache-root", cache_root, "--quiet"]) == 0
    assert "fitted 2 epoch(s)" in capsys.readouterr().out
    run_cache = dfs.join(cache_root, default_cache_dir(logs + "/run").rsplit("/", 1)[-1])
    cfs, parent = dfs.get_fs(dfs.join(run_cache, "epochs"))
    assert publish.committed_names(cfs, parent) == ["epoch-000001", "epoch-000002"]
    monkeypatch.setenv("TENSORBOARD_DVI_MIRROR", str(fit_machine / "viewer-mirror"))
    cache = RunCache(run_cache)
    assert cache.run_metrics() is not None
    # A second fit finds everything published and fits nothing.
    assert cli.main(["fit", logs, "--all-runs", "--cache-root", cache_root, "--quiet"]) == 0
    assert "fitted 2 epoch(s)" not in capsys.readouterr().out
    assert publish.committed_names(cfs, parent) == ["epoch-000001", "epoch-000002"]


def test_gcs_partial_epoch_is_invisible(gcs_prefix, fit_machine):
    url = gcs_prefix + "/logs/run"
    make_run(url, epochs=1, n_train=60, n_test=20, thumbnails=False)
    fsys, parent = dfs.get_fs(dfs.join(url, *md.PLUGIN_DIR, md.EPOCHS_DIR))
    fsys.pipe_file(parent + "/epoch-000002.v-0123456789ab/representations.npy", b"partial")
    assert RunReader(url).epochs() == [1]



def test_gcs_missing_bucket_names_the_url(gcs_emulator, fit_machine):
    with pytest.raises(dfs.RemoteError, match="could not list gs://no-such-bucket-dvi/logs"):
        mirror.remote_runs("gs://no-such-bucket-dvi/logs")
