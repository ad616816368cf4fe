// Trails (static/trails.js): segments fade with their distance in epochs from the shown one, and
// each carries an arrowhead that points from the earlier epoch to the later (issue 15, bug 8).
import { test } from "node:test";
import assert from "node:assert/strict";
import { segmentAlpha, arrowHeadPoints, inMapFrame, MAX_TRAILS } from "../../tensorboard_dvi/static/trails.js";

test("segments fade with the distance in epochs from the shown epoch, fewer when dense", () => {
  const n = 10, cur = 4;
  const a = [];
  for (let e = 0; e < n - 1; e++) a.push(segmentAlpha(e, e + 1, cur, n));
  // the two segments touching the shown epoch are the most opaque, and opacity falls away from it
  assert.equal(a[3], 0.95);
  assert.equal(a[4], 0.95);
  for (let e = 0; e < 3; e++) assert.ok(a[e] < a[e + 1], `before: ${a}`);
  for (let e = 4; e < n - 2; e++) assert.ok(a[e + 1] < a[e], `after: ${a}`);
  assert.ok(Math.abs(segmentAlpha(0, 1, n - 1, n) - (0.95 - 0.8 * 8 / 9)) < 1e-12);
  assert.ok(segmentAlpha(0, 1, 9, n) > 0.1);  // the farthest segment stays visible
  assert.ok(Math.abs(segmentAlpha(3, 4, cur, n, 0.55) - 0.95 * 0.55) < 1e-12);
  assert.equal(segmentAlpha(0, 1, -1, n), 0.95);
});

test("the arrowhead sits past the middle of a segment and points to its later end", () => {
  for (const [xa, ya, xb, yb] of [[0, 0, 100, 0], [50, 80, 10, 20], [0, 0, 0, -60]]) {
    const tri = arrowHeadPoints(xa, ya, xb, yb, 6);
    assert.ok(tri, "a long segment carries an arrow");
    const [tip, l, r] = tri;
    const d = (p, x, y) => Math.hypot(p[0] - x, p[1] - y);
    const base = [(l[0] + r[0]) / 2, (l[1] + r[1]) / 2];
    assert.ok(d(tip, xb, yb) < d(base, xb, yb), "the tip is nearer the later epoch than the base");
    assert.ok(d(tip, xa, ya) > d(base, xa, ya));
    // the tip lies on the segment, the base's corners on either side of it
    const cross = (p) => (xb - xa) * (p[1] - ya) - (yb - ya) * (p[0] - xa);
    assert.ok(Math.abs(cross(tip)) < 1e-9);
    assert.ok(cross(l) * cross(r) < 0);
  }
  assert.equal(arrowHeadPoints(0, 0, 10, 0, 6), null);  // too short
  assert.equal(MAX_TRAILS, 100);
});

test("trails in the shown epoch's frame take the maps' common move away and end at the shown position", () => {
  // two samples over three epochs; each epoch's whole map moved right by 10 (drift), sample 0 also up by 1
  const shifts = [[0, 0], [10, 0], [20, 0]];
  const positions = [[[0, 0], [10, 1], [20, 2]], [[5, 5], null, [25, 5]]];
  const at2 = inMapFrame(positions, shifts, 2);
  assert.deepEqual(at2, [[[20, 0], [20, 1], [20, 2]], [[25, 5], null, [25, 5]]]);
  const at0 = inMapFrame(positions, shifts, 0);
  assert.deepEqual(at0[0], [[0, 0], [0, 1], [0, 2]]);  // ends (at the shown epoch 0) where it is drawn
  assert.deepEqual(inMapFrame(positions, null, 1), positions);   // no shifts: as logged
  assert.deepEqual(inMapFrame(positions, shifts, -1), positions); // shown epoch not on the trails
  assert.deepEqual(inMapFrame(positions, [[0, 0], null, [20, 0]], 2)[0][1], [30, 1]);  // no record: no move
});
