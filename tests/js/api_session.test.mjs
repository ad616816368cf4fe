// The API's error codes and the run session (status polling, events, epoch clamping) against a fake API.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, errorText } from "../../tensorboard_dvi/static/api.js";
import { RunSession } from "../../tensorboard_dvi/static/session.js";
import { TrailLoader } from "../../tensorboard_dvi/static/trails.js";
import { Emitter } from "../../tensorboard_dvi/static/events.js";
import { epochCsv } from "../../tensorboard_dvi/static/panels/export.js";

test("errors are recognised by code, not by text; the message is what the user reads", () => {
  assert.equal(new ApiError(404, "whatever the server says", "projection", "not_fitted").notFitted, true);
  assert.equal(new ApiError(404, "epoch 3 not fitted yet", "projection", "unknown_epoch").notFitted, false);
  assert.equal(new ApiError(404, "not fitted", "samples", null).notFitted, false);
  assert.equal(new ApiError(404, "gone", "projection", null).notFitted, true);  // a server without codes: re-checked by status
  assert.equal(errorText(new ApiError(400, "epoch must be an integer", "x", "bad_param"), "Could not"), "Could not: the request was refused (epoch must be an integer).");
  assert.match(errorText(new ApiError(0, "", "runs"), "Could not list"), /TensorBoard does not answer/);
});

function fakeApi({ fittedSteps, epochs = [1, 2, 3] }) {
  let poll = 0;
  const calls = [];
  return {
    calls,
    async runs() { return { runs: [{ name: "r", epochs, num_classes: 3, class_names: [], damaged: {} }] }; },
    async samples(run) { calls.push(`samples ${run}`); return { n: 2, ids: [5, 6], labels: [0, 1], split: [0, 1], indexOf: (id) => [5, 6].indexOf(id) }; },
    async status() {
      const fitted = fittedSteps[Math.min(poll++, fittedSteps.length - 1)];
      return { state: fitted.length < epochs.length ? "running" : "done", fitted, epochs };
    },
    async metrics() { return { epochs: [1], metrics: [{ epoch: 1, poor: true }] }; },
    async projection(run, e) { calls.push(`projection ${e}`); return { coords: [], epoch: e }; },
    async background() { throw new ApiError(404, "no background", "background", "unknown_epoch"); },
    async trajectories(run, ids) { calls.push(`trajectories ${ids}`); return { ids, epochs, positions: ids.map(() => epochs.map(() => [0, 0])) }; },
  };
}

const next = (em, ev) => new Promise((r) => { const off = em.on(ev, (p) => { off(); r(p); }); });

test("open: samples, palette and names, then status; fitted epochs arrive by polling", async () => {
  const api = fakeApi({ fittedSteps: [[], [1], [1, 3]], epochs: [1, 3] });
  const s = new RunSession(api, { pollMs: 5 });
  await s.refreshRuns();
  const events = [];
  for (const ev of ["run", "job", "fitted", "metrics"]) s.on(ev, () => events.push(ev));
  await s.open("r");
  assert.equal(s.samples.n, 2);
  assert.deepEqual(s.classNames, ["0", "1", "2"]);
  assert.equal(s.palette.length, 3);
  assert.deepEqual(events.slice(0, 3), ["run", "job", "fitted"]);
  await next(s, "fitted");
  assert.deepEqual(s.fitted, [1]);
  await next(s, "fitted");
  assert.deepEqual(s.fitted, [1, 3]);
  assert.equal(s.fitting, false);
  assert.ok(s.poorEpochs().has(1));
  s.close();
});

test("showEpoch clamps to the closest fitted epoch before, tells why, and prefetches", async () => {
  const api = fakeApi({ fittedSteps: [[1, 3]] });
  const shown = [];
  const map = { async showEpoch(e, o) { shown.push([e, o.animate]); return true; } };
  const s = new RunSession(api, { map });
  await s.refreshRuns();
  await s.open("r");
  const notes = [];
  s.on("error", (e) => notes.push(e));
  const epoch = next(s, "epoch");
  await s.showEpoch(2);
  assert.deepEqual(await epoch, { epoch: 1, want: 2 });
  assert.equal(s.shownEpoch, 1);
  assert.match(notes.find((n) => n.key === "epoch").text, /Epoch 2 is not fitted yet; showing epoch 1/);
  await s.showEpoch(3);
  assert.deepEqual(shown, [[1, false], [3, true]]);
  assert.equal(notes.filter((n) => n.key === "epoch").pop().text, null);
  assert.ok(api.calls.includes("projection 1"));  // the neighbour of 3 was prefetched
  s.close();
});

test("a map that says 'not fitted' makes the session ask for the status again", async () => {
  const api = fakeApi({ fittedSteps: [[1], [1]] });
  const map = { async showEpoch() { throw new ApiError(404, "gone", "projection", "not_fitted"); } };
  const s = new RunSession(api, { map });
  await s.refreshRuns();
  await s.open("r");
  const job = next(s, "job");
  assert.equal(await s.showEpoch(1), false);
  assert.ok((await job).job);
  s.close();
});

test("trails: at most MAX_TRAILS (100) ids, only logged ones, no refetch of the same request, cleared when off", async () => {
  const api = fakeApi({ fittedSteps: [[1]] });
  const drawn = [];
  let count = -1, wanted = -1;
  const loader = new TrailLoader(api, { setTrails: (t) => drawn.push(t) }, (n, total) => { count = n; wanted = total; });
  const data = { samples: { indexOf: (id) => (id < 1000 ? id : -1), labels: [0, 1] }, palette: ["#a", "#b"], fitted: [1] };
  const ids = Array.from({ length: 400 }, (_, i) => i).concat([5000]);
  await loader.load("r", data, ids);
  assert.equal(count, 100);
  assert.equal(wanted, 400);  // the logged ones of the 401 asked for: the caller's note says "first 100 of 400"
  assert.equal(drawn[0].positions.length, 100);
  await loader.load("r", data, ids);
  assert.equal(api.calls.filter((c) => c.startsWith("trajectories")).length, 1);
  await loader.load("r", data, ids, { on: false });
  assert.equal(drawn.pop(), null);
  assert.equal(count, 0);
});

test("events: on, off, emit", () => {
  const e = new Emitter();
  const got = [];
  const off = e.on("x", (p) => got.push(p));
  e.emit("x", 1);
  off();
  e.emit("x", 2);
  assert.deepEqual(got, [1]);
});

test("CSV of an epoch: one line per sample, quoted names, flags, shown", () => {
  const s = { n: 2, ids: [7, 8], split: [0, 1], labels: [0, 1], noisy: null };
  const p = { predictions: [1, 1], confidence: [0.5, 0.25], coords: [1, 2, 3, 4], flags: [1, 4] };
  const lines = epochCsv(s, p, ["a,b", "c"], Uint8Array.from([1, 0])).trim().split("\n");
  assert.equal(lines.length, 3);
  assert.equal(lines[1], '7,train,0,"a,b",1,c,0.50000,1.000000,2.000000,1,0,0,1');
  assert.equal(lines[2], "8,test,1,c,1,c,0.25000,3.000000,4.000000,0,1,0,0");
});

test("epochs logged while the tab is open reach the open run (the run line's 'N epochs logged')", async () => {
  let epochs = [1, 2];
  const api = { ...fakeApi({ fittedSteps: [[1, 2]], epochs }),
    async runs() { return { runs: [{ name: "r", epochs, num_classes: 3, class_names: [], damaged: {} }] }; },
    async status() { return { state: "done", fitted: [1, 2], epochs }; } };
  const s = new RunSession(api, { pollMs: 5 });
  await s.refreshRuns();
  await s.open("r");
  assert.equal(s.run.epochs.length, 2);
  epochs = [1, 2, 3];
  const seen = next(s, "runs");
  await s.refreshRuns();
  await seen;
  assert.deepEqual(s.run.epochs, [1, 2, 3]);
  s.close();
});

test("provisional: the map is fed the provisional layout without background, then the fitted epoch replaces it", async () => {
  const api = fakeApi({ fittedSteps: [[]], epochs: [1, 2] });
  api.provisionalProjection = async (run, e) => { api.calls.push(`provisional ${e}`); return { coords: [], epoch: e, provisional: true, seconds: 2.5 }; };
  const loaded = [];
  const map = { proj: null, source: null,
    async showEpoch(e, o) {
      const [proj, bg] = await Promise.all([this.source.projection(e), this.source.background(e).catch(() => "failed")]);
      this.proj = proj;
      loaded.push([e, !!proj.provisional, bg, o.animate]);
      return true;
    } };
  const s = new RunSession(api, { map, pollMs: 100000 });
  await s.refreshRuns();
  await s.open("r");
  map.source = s.source();
  const events = [];
  s.on("provisional", (p) => events.push(p));
  assert.equal(await s.showProvisional(1), true);
  assert.equal(s.provisional, 1);
  assert.equal(s.shownEpoch, null);  // not a fitted epoch: panels keyed on shown epochs stay empty
  assert.deepEqual(loaded[0], [1, true, null, false]);  // no background request for it
  assert.deepEqual(events, [{ epoch: 1, seconds: 2.5 }]);
  s.fitted = [1];  // epoch 1 is fitted now
  assert.equal(await s.showProvisional(1), false);  // never once something is fitted
  s.provisional = 1;
  await s.showEpoch(1);
  assert.equal(s.provisional, null);
  assert.deepEqual(events.at(-1), { epoch: null });
  assert.deepEqual(loaded.at(-1).slice(0, 2), [1, false]);
  assert.equal(loaded.at(-1)[3], true);  // animated from the provisional positions to the fitted ones
  assert.ok(api.calls.includes("projection 1"));
  s.close();
});
