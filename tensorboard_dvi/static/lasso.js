// Box/lasso selection geometry shared by the projection map (map.js) and the data map
// (datamap.js). A lasso is an array of [x, y] CSS-pixel points; `lasso.box` marks a box drag
// (first point = anchor, last point = current corner).

/** The lasso after the pointer moved to (px, py): a box keeps its anchor, a lasso grows. */
export function extendLasso(lasso, px, py) {
  if (lasso.box) {
    const next = [lasso[0], [px, py]];
    next.box = true;
    return next;
  }
  lasso.push([px, py]);
  return lasso;
}

/** The polygon a finished drag selects: a box becomes its four corners. */
export function lassoPolygon(lasso) {
  if (!lasso.box) return lasso;
  const [[ax, ay], [bx, by]] = [lasso[0], lasso[lasso.length - 1]];
  return [[ax, ay], [bx, ay], [bx, by], [ax, by]];
}

/** [x0, y0, x1, y1]: the bounding box of a polygon. */
export function polygonBounds(poly) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of poly) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  return [x0, y0, x1, y1];
}

/** Whether (x, y) is inside the polygon (even-odd rule, ray casting). */
export function insidePolygon(poly, x, y) {
  const L = poly.length;
  let inside = false;
  for (let a = 0, b = L - 1; a < L; b = a++) {
    const [xa, ya] = poly[a], [xb, yb] = poly[b];
    if ((ya > y) !== (yb > y) && x < ((xb - xa) * (y - ya)) / (yb - ya) + xa) inside = !inside;
  }
  return inside;
}

/** Rows i (visible in `mask`, or all) whose point at(i) = [x, y] lies inside the polygon (same units). */
export function pointsInPolygon(poly, n, mask, at) {
  if (poly.length < 3) return new Uint32Array(0);
  const [x0, y0, x1, y1] = polygonBounds(poly);
  const out = [];
  for (let i = 0; i < n; i++) {
    if (mask && !mask[i]) continue;
    const [x, y] = at(i);
    if (x < x0 || x > x1 || y < y0 || y > y1) continue;
    if (insidePolygon(poly, x, y)) out.push(i);
  }
  return Uint32Array.from(out);
}

/** Draws the lasso (or box) being dragged: dashed orange outline over a light fill. */
export function drawLasso(ctx, lasso) {
  ctx.beginPath();
  if (lasso.box) {
    const [a, b] = [lasso[0], lasso[lasso.length - 1]];
    ctx.rect(a[0], a[1], b[0] - a[0], b[1] - a[1]);
  } else {
    ctx.moveTo(lasso[0][0], lasso[0][1]);
    for (const [x, y] of lasso) ctx.lineTo(x, y);
    ctx.closePath();
  }
  ctx.fillStyle = "rgba(245,124,0,0.10)";
  ctx.fill();
  ctx.setLineDash([5, 4]);
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "#f57c00";
  ctx.stroke();
  ctx.setLineDash([]);
}
