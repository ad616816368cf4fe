// The fitting bar's counts and time text (static/panels/progress.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readyCount, etaText } from "../../tensorboard_dvi/static/panels/progress.js";

test("readyCount: the run's epochs, not the resumed job's (issue 15: '1 of 7' on an 8-epoch run)", () => {
  // resumed after a cancel with one epoch fitted: the job fits the 7 left and has done 0 of them
  const job = { state: "running", epochs_total: 7, epochs_done: 0 };
  assert.deepEqual(readyCount(job, [1], [1, 2, 3, 4, 5, 6, 7, 8]), { done: 1, total: 8 });
  assert.deepEqual(readyCount({ ...job, epochs_done: 2 }, [1, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8]), { done: 3, total: 8 });
  // before the run's epochs are known: the job's counts
  assert.deepEqual(readyCount({ epochs_total: 5, epochs_done: 2 }, [], []), { done: 2, total: 5 });
});

test("etaText: measured rate beside the estimate; a note before there is one", () => {
  assert.equal(etaText({ state: "running", eta_s: 200, s_per_epoch: 41.2 }), " · about 3 min left (measured 41 s per epoch)");
  assert.equal(etaText({ state: "running", eta_s: 30, s_per_epoch: null }), " · about 30 s left");
  assert.equal(etaText({ state: "running", eta_s: null }), " · estimating the time left…");
  assert.equal(etaText({ state: "queued", eta_s: 10 }), "");
});
