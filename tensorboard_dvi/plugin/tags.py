"""Tags: named sets of sample ids per run ("mislabelled", "relabel as 7"), for relabelling.

Kept in ``tags.json`` inside the run's cache folder (the plugin never writes
into a logdir), replaced atomically (temporary file + ``os.replace``) under a
lock, and read back on each request: they survive restarts. Changing them
takes a ``POST`` with the ``X-DVI-Request: 1`` header, which a page of another
site cannot send without CORS permission (cross-site request forgery).
Contracts: docs/HTTP_API.md, "Tags".
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading

from tensorboard.backend import http_util
from werkzeug import wrappers

from .. import fs as dfs
from .. import storage
from . import codes, validate
from .guard import REQUEST_HEADER
from .sample_routes import respond_json

TAGS_FILE = "tags.json"
MAX_TAGS = 100
MAX_TAG_LEN = 64
MAX_BODY = 16 << 20
OPS = ("add", "remove", "set", "delete")


def tag_name(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise codes.BadParam("'tag' must be a non-empty string")
    if len(value) > MAX_TAG_LEN:
        raise codes.BadParam(f"tag names have at most {MAX_TAG_LEN} characters, got {len(value)}")
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise codes.BadParam(f"tag name {value!r} holds a control character")
    if value[0] in "=+-@":
        raise codes.BadParam(f"tag name {value!r} starts with {value[0]!r} (read as a formula by spreadsheets)")
    return value


def id_values(value, limit: int) -> list:
    """A JSON list of distinct integers (booleans are not integers here)."""
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise codes.BadParam("'ids' must be a list of integer sample ids")
    if len(value) > limit:
        raise codes.BadParam(f"'ids' holds {len(value)} ids, more than the run's {limit} samples")
    if len(set(value)) != len(value):
        seen, dups = set(), []
        for i in value:
            if i in seen:
                dups.append(i)
            seen.add(i)
        raise codes.BadParam(f"'ids' holds duplicates: {', '.join(map(str, dups[:5]))}")
    return value


def apply(tags: dict, tag: str, op: str, ids: list) -> dict:
    """The tags after one operation (a new dict; ``tags`` is not changed)."""
    out = {k: list(v) for k, v in tags.items()}
    if op in ("remove", "delete") and tag not in out:
        raise codes.BadParam(f"no tag named {tag!r}")
    if op == "delete":
        del out[tag]
        return out
    if tag not in out and len(out) >= MAX_TAGS:
        raise codes.BadParam(f"at most {MAX_TAGS} tags per run; delete one first")
    current = set(out.get(tag, []))
    new = {"add": current | set(ids), "remove": current - set(ids), "set": set(ids)}[op]
    out[tag] = sorted(new)
    return out


class TagRoutes:
    """``GET|POST tags`` and ``GET tags_export``."""

    def __init__(self, runs):
        self.runs = runs
        self._lock = threading.Lock()

    @staticmethod
    def path(run) -> str:
        return dfs.join(run.cache_dir, TAGS_FILE)

    def load(self, run) -> dict:
        from ..safe_read import FormatError, read_json_at
        try:
            doc = read_json_at(self.path(run), TAGS_FILE)  # regular files only, size and nesting limits
        except FileNotFoundError:
            return {}
        except (FormatError, OSError) as err:
            raise codes.Damaged(f"tags of run {run.name!r} are unreadable: {err}") from None
        tags = doc.get("tags") if isinstance(doc, dict) else None
        if not isinstance(tags, dict) or not all(isinstance(v, list) and all(type(i) is int for i in v)
                                                 for v in tags.values()):
            raise codes.Damaged(f"tags of run {run.name!r} ({self.path(run)}) are not {{\"tags\": {{...}}}}")
        return tags

    def _save(self, run, tags: dict) -> None:
        storage.replace_file(self.path(run), json.dumps({"version": 1, "run": run.name, "tags": tags},
                                                        separators=(",", ":")).encode("utf-8"))

    def _change(self, request, run) -> dict:
        if request.headers.get(REQUEST_HEADER) != "1":
            raise codes.MissingHeader(f"changing tags needs the header '{REQUEST_HEADER}: 1'")
        raw = request.stream.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise codes.BadParam(f"the request body is larger than {MAX_BODY >> 20} MiB")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise codes.BadParam(f"the request body is not JSON: {err}") from None
        if not isinstance(body, dict) or set(body) - {"tag", "ids", "op"}:
            raise codes.BadParam('the body must be {"tag": ..., "ids": [...], "op": "add|remove|set|delete"}')
        op = body.get("op")
        op = validate.choice({"op": op if isinstance(op, str) else repr(op)}, "op", OPS)
        tag = tag_name(body.get("tag"))
        n = len(self.runs.static(run).ids)
        ids = id_values(body.get("ids", [] if op == "delete" else None), n)
        self.runs.index_of(run, ids)  # unknown ids: 404 unknown_sample
        with self._lock:
            tags = apply(self.load(run), tag, op, ids)
            self._save(run, tags)
        return tags

    @wrappers.Request.application
    def tags(self, request):
        if request.method not in ("GET", "POST"):
            return http_util.Respond(request, "use GET or POST for this route", "text/plain", code=405,
                                     headers=codes.method_headers(["GET", "POST"]))
        run = self.runs.open(request.args)
        tags = self._change(request, run) if request.method == "POST" else self.load(run)
        return respond_json(request, {"tags": tags})

    @wrappers.Request.application
    def export(self, request):
        run = self.runs.open(request.args)
        fmt = validate.choice(request.args, "format", ["csv", "json"], default="csv")
        tags = self.load(run)
        rows = [(i, t) for t in sorted(tags) for i in sorted(tags[t])]
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", run.name).strip("._") or "run"
        headers = [("Content-Disposition", f'attachment; filename="{stem}-tags.{fmt}"')]
        if fmt == "json":
            return respond_json(request, {"count": len(rows), "columns": ["id", "tag"],
                                          "rows": [{"id": i, "tag": t} for i, t in rows]}, headers=headers)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["id", "tag"])
        writer.writerows(rows)
        return http_util.Respond(request, buf.getvalue(), "text/csv", headers=headers)
