// Alignment of one run's map onto another's (docs/COMPARE.md): orthogonal Procrustes with uniform
// scale on shared sample ids (robustProcrustes: refit on the pairs that agree), similarity transforms of points and of the background's bounds.
// Pure (tests/js/align.test.mjs); the canvas drawing of a warped background is in compare_pane.js.

/**
 * Orthogonal Procrustes with uniform scale in 2-D: finds s, R (rotation or reflection) and t
 * minimising sum_k |a_k - (s R b_k + t)|^2 over the pairs (ia[k], ib[k]) of the coordinate
 * arrays A and B (N×2, flat). Closed form: with centred x = b - mean(b), y = a - mean(a),
 *   rotation by θ:    p = Σ x·y,            q = Σ (x1 y2 - x2 y1),   score √(p²+q²), θ = atan2(q, p)
 *   reflection:       p' = Σ (x1 y1 - x2 y2), q' = Σ (x1 y2 + x2 y1), score √(p'²+q'²)
 * (the trace of the 2×2 SVD's singular values, with and without a sign flip); the larger score
 * wins, s = score / Σ|x|², t = mean(a) - s R mean(b).
 * Returns {s, m: [m00, m01, m10, m11] (= s R), t: [tx, ty], angle (degrees), reflect, rms,
 * rel (rms / rms spread of a), n}; with fewer than 3 pairs the identity with `identity: true`.
 */
export function procrustes(A, B, ia, ib) {
  const n = ia.length;
  if (n < 3) return { s: 1, m: [1, 0, 0, 1], t: [0, 0], angle: 0, reflect: false, rms: NaN, rel: NaN, n, identity: true };
  let ax = 0, ay = 0, bx = 0, by = 0;
  for (let k = 0; k < n; k++) {
    ax += A[2 * ia[k]]; ay += A[2 * ia[k] + 1];
    bx += B[2 * ib[k]]; by += B[2 * ib[k] + 1];
  }
  ax /= n; ay /= n; bx /= n; by /= n;
  let p = 0, q = 0, pr = 0, qr = 0, xx = 0, yy = 0;
  for (let k = 0; k < n; k++) {
    const x1 = B[2 * ib[k]] - bx, x2 = B[2 * ib[k] + 1] - by;
    const y1 = A[2 * ia[k]] - ax, y2 = A[2 * ia[k] + 1] - ay;
    p += x1 * y1 + x2 * y2;
    q += x1 * y2 - x2 * y1;
    pr += x1 * y1 - x2 * y2;
    qr += x1 * y2 + x2 * y1;
    xx += x1 * x1 + x2 * x2;
    yy += y1 * y1 + y2 * y2;
  }
  const rot = Math.hypot(p, q), ref = Math.hypot(pr, qr);
  const reflect = ref > rot * (1 + 1e-9);
  const th = reflect ? Math.atan2(qr, pr) : Math.atan2(q, p);
  const c = Math.cos(th), sn = Math.sin(th);
  const s = xx > 0 ? (reflect ? ref : rot) / xx : 1;
  // rotation: [[c, -s], [s, c]]; reflection: rotation · diag(1, -1) = [[c, s], [s, -c]]
  const R = reflect ? [c, sn, sn, -c] : [c, -sn, sn, c];
  const m = R.map((v) => v * s);
  const t = [ax - (m[0] * bx + m[1] * by), ay - (m[2] * bx + m[3] * by)];
  // residual: Σ|y|² - s² Σ|x|² (exact for the optimum), guarded against rounding
  const res = Math.max(0, yy - s * s * xx);
  return { s, m, t, angle: (th * 180) / Math.PI, reflect, rms: Math.sqrt(res / n), rel: yy > 0 ? Math.sqrt(res / yy) : 0, n };
}

/**
 * Procrustes that aligns the part of the maps that agrees: fits on all pairs, then refits on the
 * `keep` fraction of pairs closest after the previous fit until that set stops changing (at most
 * `iters` refits). Two runs' maps often share most of their layout and differ in a few regions;
 * a least-squares fit over every pair compromises between them and aligns neither (on the demo's
 * clean vs noisy runs a plain fit leaves a median distance of 39-75 % of the spread, this one 33-63 %,
 * docs/COMPARE.md). Returns procrustes()'s fields (rms, rel over *all* pairs) plus
 * med (median distance / RMS spread of a, all pairs), kept (pairs in the final fit), plainMed.
 */
export function robustProcrustes(A, B, ia, ib, { keep = 0.7, iters = 10 } = {}) {
  const n = ia.length;
  let T = procrustes(A, B, ia, ib);
  if (T.identity) return T;
  const dist = new Float64Array(n), order = new Uint32Array(n);
  const k = Math.max(3, Math.ceil(keep * n));
  let spread = 0, mx = 0, my = 0;
  for (let j = 0; j < n; j++) { mx += A[2 * ia[j]]; my += A[2 * ia[j] + 1]; }
  mx /= n; my /= n;
  for (let j = 0; j < n; j++) spread += (A[2 * ia[j]] - mx) ** 2 + (A[2 * ia[j] + 1] - my) ** 2;
  spread = Math.sqrt(spread / n) || 1;
  const measure = (fit) => {
    let sq = 0;
    for (let j = 0; j < n; j++) {
      const [x, y] = applyPoint(fit, B[2 * ib[j]], B[2 * ib[j] + 1]);
      dist[j] = Math.hypot(A[2 * ia[j]] - x, A[2 * ia[j] + 1] - y);
      sq += dist[j] * dist[j];
      order[j] = j;
    }
    order.sort((u, v) => dist[u] - dist[v] || u - v);
    return { rms: Math.sqrt(sq / n), med: dist[order[n >> 1]] / spread };
  };
  let m = measure(T);
  const plainMed = m.med;
  let kept = null;
  for (let it = 0; it < iters && k < n; it++) {
    const sel = order.slice(0, k).sort();
    if (kept && sel.every((v, j) => v === kept[j])) break;
    kept = sel;
    T = procrustes(A, B, Array.from(sel, (j) => ia[j]), Array.from(sel, (j) => ib[j]));
    m = measure(T);
  }
  return { ...T, n, rms: m.rms, rel: m.rms / spread, med: m.med, plainMed, kept: kept ? kept.length : n };
}

/** Applies {m, t} to a flat N×2 array (a new Float32Array). */
export function applySimilarity(T, coords) {
  const out = new Float32Array(coords.length);
  const [a, b, c, d] = T.m, [tx, ty] = T.t;
  for (let i = 0; i < coords.length; i += 2) {
    const x = coords[i], y = coords[i + 1];
    out[i] = a * x + b * y + tx;
    out[i + 1] = c * x + d * y + ty;
  }
  return out;
}

/** Applies {m, t} to one point. */
export function applyPoint(T, x, y) {
  const [a, b, c, d] = T.m, [tx, ty] = T.t;
  return [a * x + b * y + tx, c * x + d * y + ty];
}

/** Applies T to every non-null [x, y] of trajectories (one list per id), epoch by epoch: Ts[j] for epoch j. */
export function alignTrajectories(positions, Ts) {
  return positions.map((traj) => traj.map((xy, j) => {
    const t = Ts[j];
    return xy && t && !t.identity ? applyPoint(t, xy[0], xy[1]) : xy;
  }));
}

/**
 * Geometry of a background image (bounds [x0, y0, x1, y1], iw×ih pixels, row 0 at y1) warped by T:
 * the new axis-aligned bounds, the canvas size and the canvas transform [a, b, c, d, e, f] that
 * maps image pixels onto it (for ctx.setTransform before drawImage).
 */
export function warpGeometry(bounds, iw, ih, T) {
  const [x0, y0, x1, y1] = bounds;
  const corners = [[x0, y0], [x1, y0], [x0, y1], [x1, y1]].map(([x, y]) => applyPoint(T, x, y));
  const X0 = Math.min(...corners.map((p) => p[0])), X1 = Math.max(...corners.map((p) => p[0]));
  const Y0 = Math.min(...corners.map((p) => p[1])), Y1 = Math.max(...corners.map((p) => p[1]));
  const side = Math.max(iw, ih) * 1.5;
  const width = Math.max(2, Math.round(side));
  const height = Math.min(Math.max(2, Math.round(side * (Y1 - Y0) / Math.max(X1 - X0, 1e-12))), 4 * width);
  // image pixel (u, v) → data (x, y) → warped data (X, Y) → canvas pixel (U, V); all affine
  const toCanvas = (u, v) => {
    const x = x0 + (u / iw) * (x1 - x0), y = y1 - (v / ih) * (y1 - y0);
    const [X, Y] = applyPoint(T, x, y);
    return [((X - X0) / (X1 - X0)) * width, ((Y1 - Y) / (Y1 - Y0)) * height];
  };
  const o = toCanvas(0, 0), eu = toCanvas(1, 0), ev = toCanvas(0, 1);
  return { bounds: [X0, Y0, X1, Y1], width, height, transform: [eu[0] - o[0], eu[1] - o[1], ev[0] - o[0], ev[1] - o[1], o[0], o[1]] };
}

/** [x0, y0, x1, y1] of a flat N×2 array ([-1, -1, 1, 1] when empty). */
export function extent(coords, n = coords.length / 2) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = coords[2 * i], y = coords[2 * i + 1];
    if (x < x0) x0 = x; if (x > x1) x1 = x;
    if (y < y0) y0 = y; if (y > y1) y1 = y;
  }
  return Number.isFinite(x0) ? [x0, y0, x1, y1] : [-1, -1, 1, 1];
}

/** The union of boxes (nulls skipped); null when there is none. */
export function unionBounds(boxes) {
  let out = null;
  for (const b of boxes) {
    if (!b) continue;
    out = out ? [Math.min(out[0], b[0]), Math.min(out[1], b[1]), Math.max(out[2], b[2]), Math.max(out[3], b[3])] : b.slice();
  }
  return out;
}

/** The inverse of a similarity {m, t} (same shape; null for a degenerate one). */
export function invertSimilarity(T) {
  const [a, b, c, d] = T.m, det = a * d - b * c;
  if (!Number.isFinite(det) || Math.abs(det) < 1e-300) return null;
  const m = [d / det, -b / det, -c / det, a / det];
  return { m, t: [-(m[0] * T.t[0] + m[1] * T.t[1]), -(m[2] * T.t[0] + m[3] * T.t[1])] };
}

/**
 * A zoomed tile of an aligned pane: the data box `src` (in the run's own coordinates) that covers
 * the view box `dst` (aligned coordinates) once mapped back by T's inverse, and the canvas transform
 * [a, b, c, d, e, f] that draws the tile image (iw×ih, row 0 at src's y1) warped by T onto a W×H
 * canvas covering `dst` (row 0 at dst's y1). `clip` (the run's own background bounds) limits `src`
 * to where the run has regions. null when T cannot be inverted or nothing is left after the clip.
 */
export function tileGeometry(dst, T, iw, ih, W, H, clip = null) {
  const inv = invertSimilarity(T);
  if (!inv) return null;
  const [X0, Y0, X1, Y1] = dst;
  const pts = [[X0, Y0], [X1, Y0], [X0, Y1], [X1, Y1]].map(([x, y]) => applyPoint(inv, x, y));
  let src = [Math.min(...pts.map((p) => p[0])), Math.min(...pts.map((p) => p[1])),
    Math.max(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[1]))];
  if (clip) src = [Math.max(src[0], clip[0]), Math.max(src[1], clip[1]), Math.min(src[2], clip[2]), Math.min(src[3], clip[3])];
  if (!(src[0] < src[2] && src[1] < src[3])) return null;
  const toCanvas = (u, v) => {
    const x = src[0] + (u / iw) * (src[2] - src[0]), y = src[3] - (v / ih) * (src[3] - src[1]);
    const [X, Y] = applyPoint(T, x, y);
    return [((X - X0) / (X1 - X0)) * W, ((Y1 - Y) / (Y1 - Y0)) * H];
  };
  const o = toCanvas(0, 0), eu = toCanvas(1, 0), ev = toCanvas(0, 1);
  return { src, transform: [eu[0] - o[0], eu[1] - o[1], ev[0] - o[0], ev[1] - o[1], o[0], o[1]] };
}

/**
 * How far two maps are apart as drawn, without any alignment: the median distance between the
 * pairs (ia[k] in A, ib[k] in B) relative to the RMS spread of A's paired points (the `med` of
 * robustProcrustes, so "fitted from A" and "rotate" read on one scale). NaN without pairs.
 */
export function pairResidual(A, B, ia, ib) {
  const n = ia.length;
  if (!n) return NaN;
  let mx = 0, my = 0;
  for (let k = 0; k < n; k++) { mx += A[2 * ia[k]]; my += A[2 * ia[k] + 1]; }
  mx /= n; my /= n;
  let spread = 0;
  const d = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const ax = A[2 * ia[k]], ay = A[2 * ia[k] + 1];
    spread += (ax - mx) ** 2 + (ay - my) ** 2;
    d[k] = Math.hypot(ax - B[2 * ib[k]], ay - B[2 * ib[k] + 1]);
  }
  d.sort();
  return d[n >> 1] / (Math.sqrt(spread / n) || 1);
}
