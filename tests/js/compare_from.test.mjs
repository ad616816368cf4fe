// "Fitted from A": the pane's words and the fit's polling (compare_from.js), and the pure geometry
// of zoomed tiles of aligned panes and the residual as drawn (align.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { FromFit, fromText, nextStep, rangeText } from "../../tensorboard_dvi/static/compare_from.js";
import { ApiError } from "../../tensorboard_dvi/static/api.js";
import { applyPoint, applySimilarity, invertSimilarity, pairResidual, tileGeometry } from "../../tensorboard_dvi/static/align.js";

test("fromText says what the pane shows and why it waits", () => {
  const wait = fromText("noisy", "clean", null, new ApiError(409, "x", "fit_from", "reference_not_fitted"));
  assert.equal(wait.waiting, true);
  assert.match(wait.text, /^noisy, laid out from clean: waiting for "clean" to be fitted$/);
  const run = fromText("noisy", "clean", { state: "running", epoch: 2, epochs_done: 1, epochs_total: 4, fraction: 0.375, waiting_for_ref: [3, 4, 5] });
  assert.equal(run.text, 'noisy, laid out from clean: fitting, epoch 2, 1 of 4 done (38%) · epochs 3–5 wait for "clean"');
  assert.equal(run.busy, true);
  assert.equal(fromText("b", "a", { state: "done", fitted: [1, 2], waiting_for_ref: [] }).text, "b, laid out from a");
  assert.equal(fromText("b", "a", { state: "error", error: "boom" }).error, true);
  assert.equal(rangeText([1, 2, 3, 5, 7, 8]), "1–3, 5, 7–8");
});

test("nextStep: start only when the reference has epochs not fitted from it and no job runs", () => {
  assert.equal(nextStep({ state: "running" }), "poll");
  assert.equal(nextStep({ state: "done", ready: [1, 2], fitted: [1, 2] }), "idle");
  assert.equal(nextStep({ state: "done", ready: [1, 2, 3], fitted: [1, 2] }), "start");
  assert.equal(nextStep({ state: "idle", ready: [1], fitted: [] }), "start");
  assert.equal(nextStep({ state: "error", ready: [1], fitted: [] }), "idle");
});

test("FromFit posts, polls until done, and reports the fitted epochs", async () => {
  const calls = [];
  const answers = [{ state: "running", ready: [1, 2], fitted: [] }, { state: "running", ready: [1, 2], fitted: [1] },
    { state: "done", ready: [1, 2], fitted: [2, 1] }];
  const api = { async fitFrom(run, ref, action) { calls.push(`${action || "get"} ${run}<-${ref}`); return answers[Math.min(calls.length - 1, 2)]; } };
  const seen = [];
  await new Promise((resolve) => {
    const f = new FromFit(api, "noisy", "clean", (x) => { seen.push(x.fitted.join(",")); if (x.info.state === "done") { f.close(); resolve(); } });
    f.start();
  });
  assert.deepEqual(calls, ["start noisy<-clean", "get noisy<-clean", "get noisy<-clean"]);
  assert.deepEqual(seen, ["", "1", "1,2"]);
});

test("FromFit retries after 'reference not fitted' and stops when closed", async () => {
  let n = 0;
  const api = { async fitFrom() { n++; if (n < 2) throw new ApiError(409, "no", "fit_from", "reference_not_fitted"); return { state: "queued", ready: [1], fitted: [] }; } };
  const f = await new Promise((resolve) => {
    const f = new FromFit(api, "b", "a", (x) => { if (x.info) resolve(x); });
    f.start();
  });
  f.close();
  assert.equal(n, 2);
  assert.equal(f.error, null);
});

test("tileGeometry: the source box covers the view, and the canvas transform lands on it", () => {
  const th = 0.6, s = 2, c = Math.cos(th), sn = Math.sin(th);
  const T = { m: [c * s, -sn * s, sn * s, c * s], t: [1, -2] };
  const inv = invertSimilarity(T);
  const back = applyPoint(inv, ...applyPoint(T, 0.3, -0.7));
  assert.ok(Math.abs(back[0] - 0.3) < 1e-9 && Math.abs(back[1] + 0.7) < 1e-9);
  const dst = [0, 0, 4, 2], W = 100, H = 100;
  const g = tileGeometry(dst, T, 50, 50, W, H);
  for (const [x, y] of [[0, 0], [4, 0], [0, 2], [4, 2]]) {  // every corner of the view is inside src
    const [u, v] = applyPoint(inv, x, y);
    assert.ok(u >= g.src[0] - 1e-9 && u <= g.src[2] + 1e-9 && v >= g.src[1] - 1e-9 && v <= g.src[3] + 1e-9);
  }
  // a data point of the source tile goes to where T puts it on the canvas
  const [px, py] = [g.src[0] + 0.25 * (g.src[2] - g.src[0]), g.src[3] - 0.5 * (g.src[3] - g.src[1])];
  const [a, b, cc, d, e, f] = g.transform, iu = 0.25 * 50, iv = 0.5 * 50;
  const [X, Y] = applyPoint(T, px, py);
  assert.ok(Math.abs(a * iu + cc * iv + e - ((X - 0) / 4) * W) < 1e-6);
  assert.ok(Math.abs(b * iu + d * iv + f - ((2 - Y) / 2) * H) < 1e-6);
  assert.equal(tileGeometry(dst, { m: [0, 0, 0, 0], t: [0, 0] }, 1, 1, 1, 1), null);
  const clipped = tileGeometry(dst, T, 50, 50, W, H, [g.src[0], g.src[1], (g.src[0] + g.src[2]) / 2, g.src[3]]);
  assert.equal(clipped.src[2], (g.src[0] + g.src[2]) / 2);  // only where the run has regions
  assert.equal(tileGeometry(dst, T, 50, 50, W, H, [1e6, 1e6, 1e6 + 1, 1e6 + 1]), null);
});

test("pairResidual: 0 for the same map, the shift over the spread for a shifted one", () => {
  const A = Float32Array.from([0, 0, 2, 0, 0, 2, 2, 2]);
  const ia = Int32Array.from([0, 1, 2, 3]);
  assert.equal(pairResidual(A, A, ia, ia), 0);
  const B = applySimilarity({ m: [1, 0, 0, 1], t: [0.5, 0] }, A);
  assert.ok(Math.abs(pairResidual(A, B, ia, ia) - 0.5 / Math.SQRT2) < 1e-6);
  assert.ok(Number.isNaN(pairResidual(A, B, [], [])));
});
