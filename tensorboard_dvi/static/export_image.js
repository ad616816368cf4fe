// Images of the map to share: the legend drawn beside the map in the PNG, and the same view as an
// SVG (background as an embedded image, every shown sample as a circle, the legend as text).
// Pure (tests/js/export_image.test.mjs) but for drawLegend, which paints on a canvas context.

const ROW = 18, PAD = 10;
export const LEGEND_W = 190;  // CSS px beside the map

/** A legend: {title, rows: [{color, label, count?}], ramp?: {stops, lo, hi}, notes: [string]}. */
export function legendHeight(legend) {
  return PAD * 2 + ROW * (1 + legend.rows.length + (legend.ramp ? 2 : 0) + legend.notes.length);
}

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const num = (v) => (Number.isInteger(v) ? v.toLocaleString("en-US") : Number(v).toPrecision(3));

/** Legend lines, top to bottom, at (x, y): [{kind: "title"|"row"|"ramp"|"rampText"|"note", y, ...}]. */
export function legendLayout(legend, x, y) {
  const out = [{ kind: "title", x, y: y + PAD + 12, text: legend.title }];
  let yy = y + PAD + ROW;
  for (const r of legend.rows) { out.push({ kind: "row", x, y: yy, color: r.color, text: r.label + (r.count !== undefined ? ` (${num(r.count)})` : "") }); yy += ROW; }
  if (legend.ramp) {
    out.push({ kind: "ramp", x, y: yy + 2, stops: legend.ramp.stops });
    out.push({ kind: "rampText", x, y: yy + ROW + 12, lo: num(legend.ramp.lo), hi: num(legend.ramp.hi) });
    yy += 2 * ROW;
  }
  for (const n of legend.notes) { out.push({ kind: "note", x, y: yy + 12, text: n }); yy += ROW; }
  return out;
}

/** Paints the legend on a 2-D context (CSS px units) in a white box at (x, y). */
export function drawLegend(ctx, legend, x, y) {
  ctx.fillStyle = "#fff";
  ctx.fillRect(x, y, LEGEND_W, legendHeight(legend));
  ctx.font = "12px Roboto, Arial, sans-serif";
  for (const it of legendLayout(legend, x + PAD, y)) {
    ctx.fillStyle = it.kind === "title" ? "#212121" : "#424242";
    if (it.kind === "title") { ctx.font = "bold 12px Roboto, Arial, sans-serif"; ctx.fillText(it.text, it.x, it.y); ctx.font = "12px Roboto, Arial, sans-serif"; }
    else if (it.kind === "row") {
      ctx.fillStyle = it.color;
      ctx.beginPath(); ctx.arc(it.x + 5, it.y + 9, 5, 0, 6.2832); ctx.fill();
      ctx.fillStyle = "#424242"; ctx.fillText(it.text, it.x + 16, it.y + 13);
    } else if (it.kind === "ramp") {
      const g = ctx.createLinearGradient(it.x, 0, it.x + LEGEND_W - 2 * PAD, 0);
      it.stops.forEach((c, k) => g.addColorStop(k / (it.stops.length - 1), c));
      ctx.fillStyle = g; ctx.fillRect(it.x, it.y, LEGEND_W - 2 * PAD, 10);
    } else if (it.kind === "rampText") {
      ctx.fillText(it.lo, it.x, it.y);
      ctx.textAlign = "right"; ctx.fillText(it.hi, it.x + LEGEND_W - 2 * PAD, it.y); ctx.textAlign = "left";
    } else ctx.fillText(it.text, it.x, it.y);
  }
}

function legendSvg(legend, x, y) {
  const parts = [`<rect x="${x}" y="${y}" width="${LEGEND_W}" height="${legendHeight(legend)}" fill="#fff"/>`];
  const t = (xx, yy, s, extra = "") => `<text x="${xx}" y="${yy}" ${extra}>${esc(s)}</text>`;
  for (const it of legendLayout(legend, x + PAD, y)) {
    if (it.kind === "title") parts.push(t(it.x, it.y, it.text, 'font-weight="bold"'));
    else if (it.kind === "row") parts.push(`<circle cx="${it.x + 5}" cy="${it.y + 9}" r="5" fill="${it.color}"/>`, t(it.x + 16, it.y + 13, it.text));
    else if (it.kind === "ramp") {
      parts.push(`<defs><linearGradient id="dvi-ramp">${it.stops.map((c, k) => `<stop offset="${k / (it.stops.length - 1)}" stop-color="${c}"/>`).join("")}</linearGradient></defs>`,
        `<rect x="${it.x}" y="${it.y}" width="${LEGEND_W - 2 * PAD}" height="10" fill="url(#dvi-ramp)"/>`);
    } else if (it.kind === "rampText") parts.push(t(it.x, it.y, it.lo), t(it.x + LEGEND_W - 2 * PAD, it.y, it.hi, 'text-anchor="end"'));
    else parts.push(t(it.x, it.y, it.text));
  }
  return `<g class="legend" font-family="Roboto, Arial, sans-serif" font-size="12" fill="#424242">${parts.join("")}</g>`;
}

/**
 * The view as an SVG document. width/height: the map in CSS px; background: a data URL or null;
 * points: {n, xy (CSS px, 2n), r (CSS px, n), rgba (4n bytes), wrong (n flags), order (indices,
 * last on top) | null, selected (indices)}; legend as above; caption: a line over the map.
 */
export function svgDocument({ width, height, background, points, legend, caption }) {
  const W = width + LEGEND_W, out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}">`,
    `<rect width="${W}" height="${height}" fill="#fff"/>`);
  if (background) out.push(`<image href="${background}" x="0" y="0" width="${width}" height="${height}" preserveAspectRatio="none"/>`);
  out.push('<g class="points" stroke-width="1.2">');
  const { xy, r, rgba, wrong } = points;
  const circle = (i, extra = "") => {
    if (rgba[4 * i + 3] === 0) return;
    const x = xy[2 * i], y = xy[2 * i + 1];
    if (!(x >= -r[i] && x <= width + r[i] && y >= -r[i] && y <= height + r[i])) return;  // off the view
    const stroke = extra || (wrong[i] ? ` stroke="${points.wrongStroke || "#222"}"` : "");
    out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r[i].toFixed(2)}" fill="rgb(${rgba[4 * i]},${rgba[4 * i + 1]},${rgba[4 * i + 2]})" fill-opacity="${(rgba[4 * i + 3] / 255).toFixed(2)}"${stroke}/>`);
  };
  if (points.order && points.order.length === points.n) for (const i of points.order) circle(i);
  else for (let i = 0; i < points.n; i++) circle(i);
  for (const i of points.selected || []) circle(i, ' stroke="#000" stroke-width="2"');
  out.push("</g>");
  if (caption) out.push(`<text x="10" y="20" font-family="Roboto, Arial, sans-serif" font-size="12" fill="#333">${esc(caption)}</text>`);
  out.push(legendSvg(legend, width, 0), "</svg>");
  return out.join("\n");
}
