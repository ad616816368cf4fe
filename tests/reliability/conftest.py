"""Reliability and security suite: a session-wide collector and the summary table.

Every check records one row (area, what was tried, how many times, whether it held,
the figures) through the ``report`` fixture *before* it asserts, so a failing check
still shows up in the table. The table is printed at the end of the pytest run
(``pytest_terminal_summary``); with ``DVI_RELIABILITY_JSON=path`` the rows are also
written there as JSON.

Fast checks run in the normal test run; the long ones are marked ``reliability``:

    .venv/bin/python -m pytest tests/reliability -m ""

(``-m ""`` clears the default "not reliability" filter of pytest.ini).
"""

import importlib.util
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
for _p in (HERE, TESTS):
    if _p not in sys.path:
        sys.path.insert(0, _p)

# pytest imports every conftest.py under the module name "conftest": this one replaces
# tests/conftest.py in sys.modules once it is loaded. Re-export the shared helpers so that
# ``from conftest import make_run`` keeps working in every test module.
_spec = importlib.util.spec_from_file_location("dvi_tests_base_conftest", os.path.join(TESTS, "conftest.py"))
_base = sys.modules.get("dvi_tests_base_conftest")
if _base is None:
    _base = importlib.util.module_from_spec(_spec)
    sys.modules["dvi_tests_base_conftest"] = _base
    _spec.loader.exec_module(_base)
make_run = _base.make_run

ROWS = []


class Report:
    """``report(area, tried, n, held, figures)``: one row of the summary table."""

    def __call__(self, area, tried, n, held, figures=""):
        ROWS.append({"area": area, "tried": tried, "n": n, "held": bool(held), "figures": figures})
        return bool(held)


@pytest.fixture(scope="session")
def report():
    return Report()


def _table(rows):
    import textwrap
    heads = ("area", "what was tried", "n", "held", "figures")
    widths = (10, 46, 5, 4, 72)
    lines = [" | ".join(h.ljust(w) for h, w in zip(heads, widths)), "-+-".join("-" * w for w in widths)]
    for r in rows:
        cells = [textwrap.wrap(str(c), w) or [""] for c, w in
                 zip((r["area"], r["tried"], r["n"], "yes" if r["held"] else "NO", r["figures"]), widths)]
        for i in range(max(len(c) for c in cells)):
            lines.append(" | ".join((c[i] if i < len(c) else "").ljust(w) for c, w in zip(cells, widths)).rstrip())
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not ROWS:
        return
    tr = terminalreporter
    tr.section("DVI reliability and security summary")
    for line in _table(ROWS):
        tr.write_line(line)
    held = sum(r["held"] for r in ROWS)
    tr.write_line(f"{held} of {len(ROWS)} checks held")
    path = os.environ.get("DVI_RELIABILITY_JSON")
    if path:
        with open(path, "w") as f:
            json.dump(ROWS, f, indent=1)
