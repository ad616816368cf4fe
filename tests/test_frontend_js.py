"""Runs the tab's Node tests (tests/js, Node's built-in test runner, no browser): the pure modules
of tensorboard_dvi/static (container decoding, URL codecs, alignment, differences, encodings,
signals, catalogue) and the run session against a fake API. Fails when they fail; skipped only
when Node is not installed."""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not installed (Debian: apt-get install nodejs); the tab's "
                                         "Node tests in tests/js need it")
def test_node_tests_of_the_tab_pass():
    assert any(f.endswith(".test.mjs") for f in os.listdir(os.path.join(ROOT, "tests", "js"))), "no tests/js/*.test.mjs"
    proc = subprocess.run([NODE, "--test", "tests/js/"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, "node --test tests/js failed:\n" + out[-6000:]
    assert "# fail 0" in out and "# pass" in out, out[-2000:]
