// Pointer input of MapView: hover picking (once per frame), wheel zoom about the cursor, pan,
// box / lasso selection, click and shift-click selection, double-click to fit.

import { extendLasso, lassoPolygon } from "./lasso.js";

const OV = 4, ALL = 7;  // map.js's layer bits

export function bindMapInput(map) {
  const el = map.root;
  let hoverReq = 0, lastMove = null;
  const doHover = () => {
    hoverReq = 0;
    if (!lastMove || !map.opts.onHover || map.drag) return;
    const [px, py] = map.localPoint(lastMove);
    const i = map.anim ? -1 : map.pick(px, py);
    const [x, y] = map.toData(px, py);
    map.opts.onHover({ index: i, dataX: x, dataY: y, px, py, clientX: lastMove.clientX, clientY: lastMove.clientY });
  };
  el.addEventListener("mousemove", (e) => {
    if (map.drag) return;
    lastMove = e;
    if (!hoverReq) hoverReq = requestAnimationFrame(doHover);
  });
  el.addEventListener("mouseleave", () => {
    lastMove = null;
    if (map.opts.onHover) map.opts.onHover(null);
  });
  el.addEventListener("wheel", (e) => {
    e.preventDefault();
    const [px, py] = map.localPoint(e);
    const [x, y] = map.toData(px, py);
    const f = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015));
    map.autoFit = false;
    map.anim && (map.fitFrom = null);
    map.view.k = Math.min(1e9, Math.max(1e-9, map.view.k * f));
    // keep the data point under the cursor fixed
    map.view.cx = x - (px - map.cssW / 2) / map.view.k;
    map.view.cy = y + (py - map.cssH / 2) / map.view.k;
    map.emitView();
    map.requestFrame();
  }, { passive: false });
  el.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    el.focus({ preventScroll: true });
    const [px, py] = map.localPoint(e);
    const mode = e.shiftKey && map.tool === "pan" ? "lasso" : map.tool;
    map.drag = { mode, x: px, y: py, view: { ...map.view }, moved: false, ev: e };
    if (mode !== "pan") { map.lasso = [[px, py]]; map.lasso.box = mode === "box"; }
    el.setPointerCapture(e.pointerId);
    if (map.opts.onHover) map.opts.onHover(null);
  });
  el.addEventListener("pointermove", (e) => {
    const d = map.drag;
    if (!d) return;
    const [px, py] = map.localPoint(e);
    if (Math.abs(px - d.x) + Math.abs(py - d.y) > 3) d.moved = true;
    if (d.mode === "pan") {
      if (!d.moved) return;
      map.autoFit = false;
      map.fitFrom = null;
      map.view.cx = d.view.cx - (px - d.x) / map.view.k;
      map.view.cy = d.view.cy + (py - d.y) / map.view.k;
      map.root.classList.add("dragging");
      map.emitView();
    } else {
      map.lasso = extendLasso(map.lasso, px, py);
    }
    map.requestFrame(d.mode === "pan" ? ALL : OV);
  });
  const end = (e) => {
    const d = map.drag;
    if (!d) return;
    map.drag = null;
    map.root.classList.remove("dragging");
    const [px, py] = map.localPoint(e);
    const mode = e.shiftKey || e.ctrlKey || e.metaKey ? "add" : "replace";
    if (!d.moved) {
      map.lasso = null;
      const i = map.pick(px, py);
      if (map.opts.onSelect) {
        if (i >= 0) map.opts.onSelect({ indices: Uint32Array.of(i), mode: mode === "add" ? "toggle" : "replace", click: true });
        else if (mode === "replace") map.opts.onSelect({ indices: new Uint32Array(0), mode: "replace", click: true });
      }
    } else if (d.mode !== "pan") {
      const poly = lassoPolygon(map.lasso);
      map.lasso = null;
      const idx = map.pickPolygon(poly);
      if (map.opts.onSelect) map.opts.onSelect({ indices: idx, mode });
    }
    map.requestFrame(OV);
  };
  el.addEventListener("pointerup", end);
  el.addEventListener("pointercancel", () => { map.drag = null; map.lasso = null; map.requestFrame(OV); });
  el.addEventListener("dblclick", () => map.resetView());
}
