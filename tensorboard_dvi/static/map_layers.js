// The canvas layers of MapView: a 2-D background canvas (decision-region image), the point canvas
// (map_points.js: WebGL, else canvas 2-D) and a 2-D overlay (trails, hover ring, lasso). Functions
// of the map's state; map.js calls them.

import { drawLasso } from "./lasso.js";
import { GLPoints, CanvasPoints } from "./map_points.js";
import { segmentAlpha, arrowHeadPoints, inMapFrame } from "./trails.js";

/** The three stacked canvases in a focusable root appended to container, and the point renderer
 *  ("canvas" forces the 2-D fallback; "auto" / "webgl" try WebGL first). */
export function createLayers(container, renderer) {
  const root = document.createElement("div");
  root.className = "dvi-map";
  root.tabIndex = 0;
  const canvas = (cls) => { const c = document.createElement("canvas"); c.className = cls; return c; };
  const bgCanvas = canvas("dvi-map-bg"), ptCanvas = canvas("dvi-map-points"), ovCanvas = canvas("dvi-map-overlay");
  root.append(bgCanvas, ptCanvas, ovCanvas);
  container.appendChild(root);
  let points = null;
  if (renderer !== "canvas") {
    try { points = new GLPoints(ptCanvas); } catch (e) { points = null; }
  }
  if (!points) points = new CanvasPoints(ptCanvas);
  return { root, bgCanvas, ptCanvas, ovCanvas, bgCtx: bgCanvas.getContext("2d"), ovCtx: ovCanvas.getContext("2d"), points };
}

/** One canvas with the three layers drawn over each other, then extraDraw(ctx, dpr) (PNG export). */
export function compositeLayers(map, extraDraw = null) {
  const c = document.createElement("canvas");
  c.width = map.bgCanvas.width;
  c.height = map.bgCanvas.height;
  const ctx = c.getContext("2d");
  for (const layer of [map.bgCanvas, map.ptCanvas, map.ovCanvas]) ctx.drawImage(layer, 0, 0);
  if (extraDraw) extraDraw(ctx, map.dpr);
  return c;
}

/** out = a + (b - a) t, elementwise (positions part-way through a transition). */
export function lerpInto(out, a, b, t) {
  for (let i = 0; i < out.length; i++) out[i] = a[i] + (b[i] - a[i]) * t;
  return out;
}

function drawBgImage(map, ctx, bg, alpha) {
  const [x0, y0, x1, y1] = bg.bounds;
  const [sx0, sy0] = map.toScreen(x0, y1);
  const [sx1, sy1] = map.toScreen(x1, y0);
  ctx.globalAlpha = alpha;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bg.image, sx0, sy0, sx1 - sx0, sy1 - sy0);
  ctx.globalAlpha = 1;
}

/** The background layer: white, then the epoch's decision-region image (cross-faded from the previous one). */
export function drawBackground(map, t) {
  const ctx = map.bgCtx;
  const dpr = map.dpr;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, map.bgCanvas.width, map.bgCanvas.height);
  if (!map.showBackground) return;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  if (map.prevBg && t < 1) drawBgImage(map, ctx, map.prevBg, 1);
  if (map.bg) drawBgImage(map, ctx, map.bg, map.prevBg && t < 1 ? t : 1);
  // A zoomed view: the visible part re-drawn at screen resolution (map_zoom.js), over the stretched image.
  const tile = map.zoomBg && !(map.prevBg && t < 1) ? map.zoomBg.current() : null;
  if (tile) drawBgImage(map, ctx, tile, 1);
}

/** The overlay layer: trails of the selection, the hover ring, the lasso being dragged. */
export function drawOverlay(map, t) {
  const ctx = map.ovCtx;
  const dpr = map.dpr;
  const empty = !(map.trails && map.pos1) && !(map.highlight >= 0 && map.pos1) && !(map.lasso && map.lasso.length > 1);
  if (empty && map._ovEmpty) return;
  map._ovEmpty = empty;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, map.ovCanvas.width, map.ovCanvas.height);
  map.ovCanvas.style.visibility = empty ? "hidden" : "visible";
  if (empty) return;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  if (map.trails && map.pos1) drawTrails(map, ctx, t);
  if (map.highlight >= 0 && map.pos1) {
    const p = map.positionOf(map.highlight, t);
    const [x, y] = map.toScreen(p[0], p[1]);
    ctx.beginPath();
    ctx.arc(x, y, 9, 0, 2 * Math.PI);
    ctx.lineWidth = 2.5;
    ctx.strokeStyle = "#f57c00";
    ctx.stroke();
    ctx.beginPath();
    ctx.arc(x, y, 11, 0, 2 * Math.PI);
    ctx.lineWidth = 1;
    ctx.strokeStyle = "rgba(255,255,255,0.9)";
    ctx.stroke();
  }
  if (map.lasso && map.lasso.length > 1) drawLasso(ctx, map.lasso);
}

function drawTrails(map, ctx, t) {
  const { epochs, colors, indices, shifts } = map.trails;
  const cur = epochs.indexOf(map.epoch);
  const positions = map.trailDrift ? map.trails.positions : inMapFrame(map.trails.positions, shifts, cur);
  const dense = positions.length > 30 ? 0.55 : 1;  // many trails: thinner and lighter
  ctx.save();
  // only over the data map: the region the background covers (else the canvas)
  if (map.bg && map.showBackground) {
    const [x0, y0, x1, y1] = map.bg.bounds, [sx0, sy0] = map.toScreen(x0, y1), [sx1, sy1] = map.toScreen(x1, y0);
    ctx.beginPath(); ctx.rect(sx0, sy0, sx1 - sx0, sy1 - sy0); ctx.clip();
  }
  ctx.lineJoin = "round";
  ctx.lineCap = "round";
  for (let j = 0; j < positions.length; j++) {
    const traj = positions[j];
    const col = colors ? colors[j] : "#333";
    const pts = [];
    for (let e = 0; e < traj.length; e++) if (traj[e]) pts.push([e, ...map.toScreen(traj[e][0], traj[e][1])]);
    if (pts.length < 2) continue;
    // halo then colour; segments fade with their distance in epochs from the shown one, and an
    // arrowhead at each segment's middle points from the earlier epoch to the later
    for (const pass of [0, 1]) {
      for (let s = 1; s < pts.length; s++) {
        const [e0, xa, ya] = pts[s - 1];
        const [e1, xb, yb] = pts[s];
        const alpha = segmentAlpha(e0, e1, cur, epochs.length, dense);
        ctx.beginPath();
        ctx.moveTo(xa, ya);
        ctx.lineTo(xb, yb);
        if (pass === 0) { ctx.strokeStyle = `rgba(255,255,255,${(0.8 * alpha).toFixed(3)})`; ctx.lineWidth = 4.5 * dense; }
        else { ctx.strokeStyle = col; ctx.globalAlpha = alpha; ctx.lineWidth = 2 * dense; }
        ctx.stroke();
        if (pass === 1) arrowHead(ctx, xa, ya, xb, yb, 4 + 2 * dense);
        ctx.globalAlpha = 1;
      }
    }
    for (const [e, x, y] of pts) {
      if (dense < 1 && e !== 0 && e !== cur) continue;
      ctx.beginPath();
      ctx.arc(x, y, e === 0 ? 3.5 : 2.2, 0, 2 * Math.PI);
      ctx.fillStyle = e === 0 ? "#fff" : col;
      ctx.fill();
      ctx.lineWidth = 1.2;
      ctx.strokeStyle = e === 0 ? col : "rgba(255,255,255,0.9)";
      ctx.stroke();
    }
    // Connect the current animated position to the trail.
    if (indices && indices[j] >= 0 && t < 1) {
      const p = map.positionOf(indices[j], t);
      const [x, y] = map.toScreen(p[0], p[1]);
      ctx.beginPath();
      ctx.arc(x, y, 4, 0, 2 * Math.PI);
      ctx.strokeStyle = col;
      ctx.stroke();
    }
  }
  ctx.restore();
}

/** A filled arrowhead of `size` px at the middle of a→b, pointing towards b (skipped on short segments). */
function arrowHead(ctx, xa, ya, xb, yb, size) {
  const tri = arrowHeadPoints(xa, ya, xb, yb, size);
  if (!tri) return;
  ctx.beginPath();
  ctx.moveTo(...tri[0]);
  ctx.lineTo(...tri[1]);
  ctx.lineTo(...tri[2]);
  ctx.closePath();
  ctx.fillStyle = ctx.strokeStyle;
  ctx.fill();
}
