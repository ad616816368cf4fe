"""Helpers for the browser tests and the frontend benchmark: a real TensorBoard process over a
small logdir written by the real writer (with a precomputed engine cache), and headless Chromium
driven by Playwright."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

CHROMIUM = os.environ.get("DVI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # WebGL through SwiftShader (software) when there is no GPU; the tab falls back to canvas 2D
    # if WebGL is missing anyway.
    "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
]


def chromium_missing_reason():
    if not os.path.exists(CHROMIUM):
        return f"Chromium not found at {CHROMIUM} (install Debian's chromium or set DVI_CHROMIUM)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright (python) is not installed"
    return None


def e2e_marks():
    """A browser test module's `pytestmark`: marked e2e, skipped with the reason when Chromium or
    Playwright is missing."""
    import pytest

    reason = chromium_missing_reason()
    return [pytest.mark.e2e] + ([pytest.mark.skip(reason=reason)] if reason else [])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_logdir(logdir, runs=(("clean", 0, 0.0), ("noisy", 1, 0.2)), epochs=4):
    """Small runs written by the real DVIWriter (tests/conftest.py's make_run)."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.dirname(here))
    from conftest import make_run  # tests/conftest.py

    for name, seed, noisy in runs:
        make_run(os.path.join(logdir, name), epochs=epochs, seed=seed, noisy_fraction=noisy)


def precompute_cache(logdir, cache_root, runs):
    """Fits every epoch with a small engine config into the folder the plugin reads
    (--dvi_cache_dir), so the browser tests do not wait for fitting."""
    from tensorboard_dvi.engine import EngineConfig, fit_run
    from tensorboard_dvi.engine.cache import default_cache_dir

    cfg = EngineConfig(hidden=(64, 64), max_trainer_epochs=4, threads=1, temporal_sample=300)
    for name in runs:
        path = os.path.abspath(os.path.join(logdir, name))
        fit_run(path, os.path.join(cache_root, os.path.basename(default_cache_dir(path))), config=cfg)


def _get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


@contextlib.contextmanager
def tensorboard(logdir, cache_dir, extra_args=(), timeout=90, port=None):
    """Runs `tensorboard --logdir ... --dvi_cache_dir ...` on a free port (or `port`: e.g. a
    server started again where a page expects it); yields its base URL.

    ``logdir=None``: no ``--logdir`` (pass ``--logdir_spec`` in ``extra_args``)."""
    port = port or free_port()
    exe = shutil.which("tensorboard", path=os.path.dirname(sys.executable)) or shutil.which("tensorboard")
    cmd = [exe] if exe else [sys.executable, "-m", "tensorboard.main"]
    cmd += ["--logdir", str(logdir)] if logdir is not None else []
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--dvi_cache_dir", str(cache_dir), *extra_args]
    log = open(os.path.join(str(cache_dir), f"tensorboard-{port}.log"), "wb")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"tensorboard exited with {proc.returncode}; see {log.name}")
            try:
                listing = json.loads(_get(base + "data/plugins_listing"))
                runs = json.loads(_get(base + "data/plugin/dvi/runs"))
                if listing.get("dvi", {}).get("enabled") and runs.get("runs"):
                    break
            except Exception:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"tensorboard did not serve the DVI plugin in {timeout}s; see {log.name}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@contextlib.contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


# Browser waits end on the tab's own signals (below), never on a wall-clock budget for the work
# itself: on a loaded machine the first render may take minutes. This only stops a hung tab.
HANG_GUARD_MS = 240_000

READY_JS = "() => { const r = document.querySelector('.dvi-root'); return !!r && r.dataset.ready === '1'%s; }"


def guarded(page):
    """Every Playwright wait of this page times out only after HANG_GUARD_MS."""
    page.set_default_timeout(HANG_GUARD_MS)
    return page


def plugin_frame(page):
    """The DVI plugin iframe of a (fake) TensorBoard page, once it exists."""
    page.wait_for_selector("iframe", timeout=HANG_GUARD_MS)
    for _ in range(HANG_GUARD_MS // 100):
        f = next((f for f in page.frames if "plugin_entry.html" in f.url), None)
        if f is not None:
            return f
        page.wait_for_timeout(100)
    raise AssertionError("no DVI plugin frame: " + _tab_state(page))


def download(page, frame, button, folder):
    """Clicks the tab's button named `button`, saves the download in `folder`; returns its path."""
    with page.expect_download() as d:
        frame.get_by_role("button", name=button).click()
    path = os.path.join(folder, d.value.suggested_filename)
    d.value.save_as(path)
    return path


def wait_ready(frame, epoch=None):
    """Waits for the tab's ready signal (tab.js): an epoch (this one, if given) is painted and its
    transition has finished (.dvi-root[data-ready="1"][data-epoch=E], window.dvi.ready)."""
    cond = "" if epoch is None else f" && r.dataset.epoch === '{int(epoch)}'"
    frame.wait_for_function(READY_JS % cond, polling=100, timeout=HANG_GUARD_MS)


def wait_hash(page, part: str, present: bool = True):
    """Waits until the top page's URL hash holds ``part`` (or, with ``present=False``, no longer
    does): the tab writes its state there on the animation frame after a change (static/store.js),
    so an assertion right after the change races it on a loaded machine."""
    page.wait_for_function("([p, want]) => location.hash.includes(p) === want", arg=[part, present])


def dvi_frame(page, timeout=HANG_GUARD_MS):
    """The DVI plugin iframe of a TensorBoard page, once the tab has rendered an epoch."""
    f = plugin_frame(page)
    try:
        f.wait_for_function(READY_JS % "", polling=100, timeout=timeout)
    except Exception as e:
        raise AssertionError(f"the DVI tab did not render an epoch ({e}): " + _tab_state(page)) from None
    return f


def _tab_state(page) -> str:
    """What the page shows instead, for the failure message."""
    parts = [f"page {page.url}"]
    for f in page.frames:
        try:
            parts.append(f"frame {f.url}: " + str(f.evaluate(
                "() => ({dvi: !!window.__dvi, epoch: window.__dvi && window.__dvi.map && window.__dvi.map.epoch, "
                "ready: document.querySelector('.dvi-root') && document.querySelector('.dvi-root').dataset.ready, "
                "anim: window.__dvi && window.__dvi.map && window.__dvi.map.anim !== null, "
                "compare: !!(window.__dvi && window.__dvi.compare && window.__dvi.compare.active), "
                "hash: (window.parent || window).location.hash, "
                "text: document.body ? document.body.innerText.slice(0, 300) : ''})")))
        except Exception as e:  # a detached frame
            parts.append(f"frame {f.url}: {e}")
    return "; ".join(parts)


@contextlib.contextmanager
def fitted_tensorboard(root, write_runs, runs):
    """`tensorboard` over root/logs, written by write_runs(logdir), with the engine caches of
    `runs` precomputed into root/cache (--dvi_cache_dir); yields its base URL."""
    logdir, cache = root / "logs", root / "cache"
    cache.mkdir()
    write_runs(logdir)
    precompute_cache(str(logdir), str(cache), runs)
    with tensorboard(logdir, cache) as base:
        yield base


# Console noise that is not ours: TensorBoard's own bundle and SwiftShader's perf notes.
IGNORED_CONSOLE = ("Multiple instances of Three.js", "GL Driver Message", "GPU stall")


@contextlib.contextmanager
def checked_page(chromium, viewport, **context_kwargs):
    """A page in a fresh browser context that records console errors (other than
    IGNORED_CONSOLE) and uncaught page errors in page.dvi_errors; on exit the context is closed
    and any recorded error fails the test."""
    ctx = chromium.new_context(viewport=viewport, **context_kwargs)
    ctx.set_default_timeout(HANG_GUARD_MS)
    pg = ctx.new_page()
    errors = []

    def on_console(msg):
        if msg.type != "error" or any(s in msg.text for s in IGNORED_CONSOLE):
            return
        # A server without GET catalogue answers 404: the tab falls back (static/catalogue.js).
        if "404" in msg.text and (msg.location or {}).get("url", "").split("?")[0].endswith("/catalogue"):
            return
        errors.append(f"console.error: {msg.text}")

    pg.on("console", on_console)
    pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    pg.dvi_errors = errors
    yield pg
    ctx.close()
    assert not errors, "errors in the browser console:\n" + "\n".join(errors)
