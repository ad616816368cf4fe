// The binary container of docs/HTTP_API.md: round trip, alignment, errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseContainer, packContainer } from "../../tensorboard_dvi/static/container.js";

test("arrays come back with their dtype, shape and values", () => {
  const coords = Float32Array.from([0.5, -1, 2, 3.25, 4, 5]);
  const labels = Int16Array.from([3, -2, 7]);
  const flags = Uint8Array.from([1, 0, 5]);
  const buf = packContainer({ coords, labels, flags }, { n: 3, epoch: 4 }, { coords: [3, 2] });
  const { header, arrays } = parseContainer(buf);
  assert.equal(header.n, 3);
  assert.equal(header.epoch, 4);
  assert.deepEqual(header.arrays.coords.shape, [3, 2]);
  assert.ok(arrays.coords instanceof Float32Array);
  assert.deepEqual(Array.from(arrays.coords), Array.from(coords));
  assert.deepEqual(Array.from(arrays.labels), [3, -2, 7]);
  assert.deepEqual(Array.from(arrays.flags), [1, 0, 5]);
  for (const spec of Object.values(header.arrays)) assert.equal(spec.offset % 8, 0);
});

test("a misaligned array is copied, not rejected", () => {
  const buf = packContainer({ a: Float32Array.from([1, 2]) }, { n: 2 });
  const dv = new DataView(buf);
  const len = dv.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, len)));
  // shift the array by one byte: a server that breaks the alignment promise
  const bad = new ArrayBuffer(buf.byteLength + 1);
  const head = new TextEncoder().encode(JSON.stringify({ ...header, arrays: { a: { ...header.arrays.a, offset: 1 } } }).padEnd(len, " "));
  new DataView(bad).setUint32(0, head.length, true);
  new Uint8Array(bad, 4, head.length).set(head);
  new Uint8Array(bad, 4 + head.length + 1, 8).set(new Uint8Array(Float32Array.from([1, 2]).buffer));
  assert.deepEqual(Array.from(parseContainer(bad).arrays.a), [1, 2]);
});

test("unknown dtypes and truncated bodies are errors that name the problem", () => {
  const buf = packContainer({ a: Float32Array.from([1]) }, { n: 1 });
  const text = new TextDecoder().decode(new Uint8Array(buf)).replace("float32", "complex");
  assert.throws(() => parseContainer(new TextEncoder().encode(text).buffer), /unsupported dtype complex for a/);
  assert.throws(() => parseContainer(buf.slice(0, buf.byteLength - 6)), /array a runs past the end/);
  assert.throws(() => parseContainer(new ArrayBuffer(2)), /too short/);
});
