// The panel registry (the extension point for new panels) and the query parameters of the catalogue.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PANELS, registerPanel } from "../../tensorboard_dvi/static/panels/registry.js";
import { queryParams } from "../../tensorboard_dvi/static/panels/dynamics_query.js";
import { FALLBACK } from "../../tensorboard_dvi/static/catalogue.js";

test("registerPanel inserts after a named panel and refuses a second panel of the same name", () => {
  class Example { constructor() { this.el = null; } render() {} }
  const before = PANELS.map((p) => p.name);
  registerPanel({ name: "example", slot: "right", Panel: Example, after: "selection" });
  try {
    const names = PANELS.map((p) => p.name);
    assert.equal(names[names.indexOf("selection") + 1], "example");
    assert.throws(() => registerPanel({ name: "example", slot: "left", Panel: Example }), /already registered/);
  } finally { PANELS.splice(PANELS.findIndex((p) => p.name === "example"), 1); }
  assert.deepEqual(PANELS.map((p) => p.name), before);
  for (const p of PANELS) assert.ok(["left", "top", "status", "map", "right", "root"].includes(p.slot), p.name);
});

test("queryParams: one numeric parameter is set at a time, choices apart", () => {
  const q = Object.fromEntries(FALLBACK.queries.map((x) => [x.name, x]));
  assert.deepEqual(queryParams(q.likely_mislabelled).numeric.map((p) => p.name), ["n", "fraction", "threshold"]);
  assert.deepEqual(queryParams(q.likely_mislabelled).choice.map((p) => p.name), ["split"]);
  assert.deepEqual(queryParams(q.still_misclassified).numeric, []);
  assert.deepEqual(queryParams(null), { numeric: [], choice: [] });
});
