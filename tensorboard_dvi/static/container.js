// The binary container of the HTTP API (docs/HTTP_API.md, "Binary container"): uint32 LE header
// length, a JSON header, then 8-byte aligned little-endian arrays. Pure: no DOM, no fetch, so it
// is tested with Node (tests/js/container.test.mjs).

const DTYPES = {
  float32: Float32Array, float64: Float64Array, int32: Int32Array, uint32: Uint32Array,
  int16: Int16Array, uint16: Uint16Array, int8: Int8Array, uint8: Uint8Array,
};

/** Parses an ArrayBuffer into {header, arrays: {name: TypedArray}}; throws on a dtype it does not know. */
export function parseContainer(buf) {
  if (buf.byteLength < 4) throw new Error(`binary container too short (${buf.byteLength} bytes)`);
  const dv = new DataView(buf);
  const len = dv.getUint32(0, true);
  if (4 + len > buf.byteLength) throw new Error(`binary container header of ${len} bytes exceeds the ${buf.byteLength}-byte body`);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, len)));
  const base = 4 + len;
  const arrays = {};
  for (const [name, spec] of Object.entries(header.arrays || {})) {
    const T = DTYPES[spec.dtype];
    if (!T) throw new Error(`unsupported dtype ${spec.dtype} for ${name}`);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const start = base + spec.offset;
    if (start + count * T.BYTES_PER_ELEMENT > buf.byteLength) throw new Error(`array ${name} runs past the end of the container`);
    // Typed arrays need aligned offsets; the container guarantees 8-byte alignment, but copy
    // defensively if a server ever gets it wrong.
    arrays[name] = start % T.BYTES_PER_ELEMENT === 0
      ? new T(buf, start, count)
      : new T(buf.slice(start, start + count * T.BYTES_PER_ELEMENT));
  }
  return { header, arrays };
}

/** Builds a container (the inverse of parseContainer): arrays {name: TypedArray}, shapes {name: [..]}. */
export function packContainer(arrays, headerExtra = {}, shapes = {}) {
  const specs = {};
  let offset = 0;
  for (const [name, a] of Object.entries(arrays)) {
    const dtype = Object.keys(DTYPES).find((k) => a instanceof DTYPES[k]);
    specs[name] = { dtype, shape: shapes[name] || [a.length], offset };
    offset += Math.ceil(a.byteLength / 8) * 8;
  }
  let json = JSON.stringify({ ...headerExtra, arrays: specs });
  while ((4 + new TextEncoder().encode(json).length) % 8) json += " ";
  const head = new TextEncoder().encode(json);
  const buf = new ArrayBuffer(4 + head.length + offset);
  new DataView(buf).setUint32(0, head.length, true);
  new Uint8Array(buf, 4, head.length).set(head);
  for (const [name, a] of Object.entries(arrays)) {
    new Uint8Array(buf, 4 + head.length + specs[name].offset, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return buf;
}
