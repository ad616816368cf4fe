// The shared images' legend and SVG (static/export_image.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { svgDocument, legendLayout, legendHeight, LEGEND_W } from "../../tensorboard_dvi/static/export_image.js";

const legend = { title: "Colour: label", rows: [{ color: "#e41a1c", label: "cat <1>", count: 1200 }, { color: "#377eb8", label: "dog", count: 3 }], notes: ["dark ring: misclassified (1)"] };

test("legend layout: title, one line per class with its count, the notes", () => {
  const lines = legendLayout(legend, 0, 0);
  assert.deepEqual(lines.map((l) => l.kind), ["title", "row", "row", "note"]);
  assert.equal(lines[1].text, "cat <1> (1,200)");
  assert.ok(legendHeight(legend) >= lines[lines.length - 1].y);
  const ramp = legendLayout({ title: "Colour: x", rows: [], ramp: { stops: ["#000", "#fff"], lo: 0.1, hi: 0.9 }, notes: [] }, 0, 0);
  assert.deepEqual(ramp.map((l) => l.kind), ["title", "ramp", "rampText"]);
});

test("svgDocument: one circle per shown sample in draw order, selection on top, legend as text", () => {
  const n = 4;
  const xy = Float32Array.from([10, 10, 20, 20, 30, 30, 5000, 5000]);  // the last one is off the view
  const rgba = Uint8Array.from([255, 0, 0, 235, 0, 255, 0, 235, 0, 0, 255, 0, 9, 9, 9, 235]);  // the third is transparent
  const doc = svgDocument({ width: 100, height: 80, background: "data:image/png;base64,AAAA", caption: "run & co · epoch 3", legend,
    points: { n, xy, r: new Float32Array(n).fill(3), rgba, wrong: Uint8Array.from([0, 1, 0, 0]), order: Uint32Array.from([1, 0, 2, 3]), selected: [0] } });
  const circles = doc.match(/<circle [^>]*>/g).filter((c) => !c.includes('r="5"'));  // legend swatches have r=5
  assert.equal(circles.length, 3);  // 2 points + 1 selected ring
  assert.match(circles[0], /cx="20.0"/);  // draw order: sample 1 first
  assert.match(circles[0], /stroke="#222"/);  // misclassified
  assert.match(circles[2], /stroke="#000"/);  // the selection last
  assert.match(doc, new RegExp(`width="${100 + LEGEND_W}"`));
  assert.match(doc, /cat &lt;1&gt; \(1,200\)/);
  assert.match(doc, /run &amp; co/);
  assert.match(doc, /<image href="data:image\/png;base64,AAAA"/);
});
