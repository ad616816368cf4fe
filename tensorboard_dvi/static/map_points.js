// The point layer of MapView: all samples in one WebGL draw call (positions of two epochs in two
// buffers, interpolated in the vertex shader by a uniform t; a second indexed draw for the
// selection), and a canvas-2D fallback with the same interface when WebGL is unavailable.

const VS = `
attribute vec2 a_p0; attribute vec2 a_p1;
attribute vec4 a_c0; attribute vec4 a_c1;
attribute vec2 a_s;
uniform float u_t; uniform vec4 u_view; uniform float u_scale; uniform float u_sel;
varying vec4 v_c; varying float v_shape; varying float v_px;
void main() {
  vec2 p = mix(a_p0, a_p1, u_t);
  gl_Position = vec4((p.x - u_view.x) * u_view.z, (p.y - u_view.y) * u_view.w, 0.0, 1.0);
  float px = a_s.x * 0.25 * u_scale;
  v_shape = a_s.y;
  v_c = mix(a_c0, a_c1, u_t);
  if (u_sel > 0.5) { px = px + 6.0 * u_scale; v_shape = 3.0; v_c.a = 1.0; }
  gl_PointSize = px;
  v_px = px;
}`;

const FS = `
precision mediump float;
varying vec4 v_c; varying float v_shape; varying float v_px;
void main() {
  vec2 d = gl_PointCoord * 2.0 - 1.0;
  float r = length(d);
  float aa = 2.0 / max(v_px, 1.0);
  float alpha = 1.0 - smoothstep(1.0 - aa, 1.0, r);
  if (alpha <= 0.0) discard;
  vec3 col = v_c.rgb;
  float a = v_c.a;
  // Rims need room: small points (dense maps) get none, and misclassified ones are darkened.
  float big = step(5.5, v_px);
  if (v_shape < 0.5) {            // disc with a thin white rim
    float rim = smoothstep(1.0 - 2.6 / v_px - aa, 1.0 - 2.6 / v_px, r);
    col = mix(col, vec3(1.0), rim * 0.8 * big);
  } else if (v_shape < 1.5) {     // misclassified: near-black ring around the colour
    float ring = smoothstep(1.0 - 3.4 / v_px - aa, 1.0 - 3.4 / v_px, r);
    col = big > 0.5 ? mix(col, vec3(0.08), ring) : col * 0.35;
  } else if (v_shape > 3.5) {     // misclassified, signal colours: thin light-grey ring, colour kept
    float ring = smoothstep(1.0 - 1.6 / v_px - aa, 1.0 - 1.6 / v_px, r);
    col = mix(col, vec3(0.82), ring * big);
  } else if (v_shape > 2.5) {     // selected: black ring, white gap, colour core
    float outer = smoothstep(1.0 - 5.0 / v_px - aa, 1.0 - 5.0 / v_px, r);
    float gap = smoothstep(1.0 - 8.0 / v_px - aa, 1.0 - 8.0 / v_px, r) * (1.0 - outer);
    col = mix(mix(col, vec3(1.0), gap), vec3(0.0), outer);
  }
  gl_FragColor = vec4(col * a * alpha, a * alpha);
}`;

function compile(gl, type, src) {
  const s = gl.createShader(type);
  gl.shaderSource(s, src);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
  return s;
}

/** WebGL point renderer. */
export class GLPoints {
  constructor(canvas) {
    const gl = canvas.getContext("webgl", {
      alpha: true, premultipliedAlpha: true, antialias: false, preserveDrawingBuffer: false, depth: false,
    });
    if (!gl) throw new Error("WebGL unavailable");
    this.gl = gl;
    this.kind = "webgl";
    const prog = gl.createProgram();
    gl.attachShader(prog, compile(gl, gl.VERTEX_SHADER, VS));
    gl.attachShader(prog, compile(gl, gl.FRAGMENT_SHADER, FS));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
    this.prog = prog;
    this.uintIndex = !!gl.getExtension("OES_element_index_uint");
    const loc = (n) => gl.getAttribLocation(prog, n);
    this.attr = { p0: loc("a_p0"), p1: loc("a_p1"), c0: loc("a_c0"), c1: loc("a_c1"), s: loc("a_s") };
    this.uni = {};
    for (const u of ["u_t", "u_view", "u_scale", "u_sel"]) this.uni[u] = gl.getUniformLocation(prog, u);
    this.buf = {};
    for (const k of ["p0", "p1", "c0", "c1", "s"]) this.buf[k] = gl.createBuffer();
    this.selBuf = gl.createBuffer();
    this.orderBuf = gl.createBuffer();
    this.nOrder = 0;
    this.n = 0;
    this.nSel = 0;
    this.maxPointSize = gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE)[1];
  }
  _upload(key, data) {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf[key]);
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.DYNAMIC_DRAW);
  }
  setPositions(p0, p1) { this._upload("p0", p0); this._upload("p1", p1); this.n = p1.length / 2; }
  setColors(c0, c1) { this._upload("c0", c0); this._upload("c1", c1); }
  setStyle(s) { this._upload("s", s); }
  setSelected(indices) {
    const gl = this.gl;
    let idx = indices;
    if (!this.uintIndex) idx = Uint16Array.from(indices.filter((i) => i < 65536));
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.selBuf);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, idx, gl.DYNAMIC_DRAW);
    this.nSel = idx.length;
    this.selType = idx instanceof Uint32Array ? gl.UNSIGNED_INT : gl.UNSIGNED_SHORT;
  }
  /** Draw order (indices, last on top) or null for index order. */
  setOrder(order) {
    this.nOrder = 0;
    if (!order || (!this.uintIndex && order.length > 65536)) return;
    const gl = this.gl;
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.orderBuf);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, this.uintIndex ? Uint32Array.from(order) : Uint16Array.from(order), gl.DYNAMIC_DRAW);
    this.nOrder = order.length;
  }
  resize(w, h) { this.gl.viewport(0, 0, w, h); }
  draw(view, t, dpr, canvasW, canvasH) {
    const gl = this.gl;
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (!this.n) return;
    gl.useProgram(this.prog);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    const bind = (key, size, type, norm) => {
      gl.bindBuffer(gl.ARRAY_BUFFER, this.buf[key]);
      gl.enableVertexAttribArray(this.attr[key]);
      gl.vertexAttribPointer(this.attr[key], size, type, norm, 0, 0);
    };
    bind("p0", 2, gl.FLOAT, false);
    bind("p1", 2, gl.FLOAT, false);
    bind("c0", 4, gl.UNSIGNED_BYTE, true);
    bind("c1", 4, gl.UNSIGNED_BYTE, true);
    bind("s", 2, gl.UNSIGNED_BYTE, false);
    gl.uniform1f(this.uni.u_t, t);
    gl.uniform4f(this.uni.u_view, view.cx, view.cy, (2 * view.k * dpr) / canvasW, (2 * view.k * dpr) / canvasH);
    gl.uniform1f(this.uni.u_scale, dpr * view.sizeScale);
    gl.uniform1f(this.uni.u_sel, 0);
    if (this.nOrder === this.n) {
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.orderBuf);
      gl.drawElements(gl.POINTS, this.n, this.uintIndex ? gl.UNSIGNED_INT : gl.UNSIGNED_SHORT, 0);
    } else gl.drawArrays(gl.POINTS, 0, this.n);
    if (this.nSel) {
      gl.uniform1f(this.uni.u_sel, 1);
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.selBuf);
      gl.drawElements(gl.POINTS, this.nSel, this.selType, 0);
    }
  }
  finish() { this.gl.finish(); }
}

/** Canvas-2D fallback with the same interface (slower: one path per point). */
export class CanvasPoints {
  constructor(canvas) {
    this.ctx = canvas.getContext("2d");
    this.kind = "canvas2d";
    this.canvas = canvas;
    this.n = 0;
    this.sel = new Uint32Array(0);
  }
  setPositions(p0, p1) { this.p0 = p0; this.p1 = p1; this.n = p1.length / 2; }
  setColors(c0, c1) { this.c0 = c0; this.c1 = c1; }
  setStyle(s) { this.s = s; }
  setSelected(indices) { this.sel = indices; }
  setOrder(order) { this.order = order; }
  resize() {}
  draw(view, t, dpr, W, H) {
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, W, H);
    if (!this.n) return;
    const sx = view.k * dpr, cx = W / 2, cy = H / 2;
    const { p0, p1, c1, s } = this;
    const drawOne = (i, extra, ring) => {
      const x = (p0[2 * i] + (p1[2 * i] - p0[2 * i]) * t - view.cx) * sx + cx;
      const y = cy - (p0[2 * i + 1] + (p1[2 * i + 1] - p0[2 * i + 1]) * t - view.cy) * sx;
      const r = ((s[2 * i] * 0.25 * view.sizeScale + extra) * dpr) / 2;
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 6.2832);
      ctx.fillStyle = `rgba(${c1[4 * i]},${c1[4 * i + 1]},${c1[4 * i + 2]},${ring ? 1 : c1[4 * i + 3] / 255})`;
      ctx.fill();
      const shape = s[2 * i + 1];
      if (ring || shape === 1 || shape === 4) {
        ctx.lineWidth = (ring ? 2 : shape === 4 ? 1 : 1.5) * dpr;
        ctx.strokeStyle = ring ? "#000" : shape === 4 ? "rgba(210,210,210,0.9)" : "rgba(30,30,30,0.9)";
        ctx.stroke();
      }
    };
    if (this.order && this.order.length === this.n) for (const i of this.order) drawOne(i, 0, false);
    else for (let i = 0; i < this.n; i++) drawOne(i, 0, false);
    for (const i of this.sel) drawOne(i, 5, true);
  }
  finish() {}
}

