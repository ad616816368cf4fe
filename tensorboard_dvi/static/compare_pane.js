// One pane of "Compare runs": a run picker and epoch head over its own MapView, fed by its own
// RunSession (data and status polling only; the compare view decides the epoch). Also the warped
// background canvas of an aligned pane and the pane's tooltip (the sample in every run).

import { MapView } from "./map.js";
import { RunSession } from "./session.js";
import { TrailLoader } from "./trails.js";
import { warpGeometry, alignTrajectories } from "./align.js";
import { isWrong, isNoisy } from "./encode.js";
import { h, placeTooltip, swatch } from "./ui.js";

/** The background image warped by T, as a canvas with its new axis-aligned bounds. */
export function warpBackground(bg, T) {
  const iw = bg.image.naturalWidth || bg.image.width, ih = bg.image.naturalHeight || bg.image.height;
  const g = warpGeometry(bg.bounds, iw, ih, T);
  const canvas = document.createElement("canvas");
  canvas.width = g.width;
  canvas.height = g.height;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.setTransform(...g.transform);
  ctx.drawImage(bg.image, 0, 0);
  return { image: canvas, bounds: g.bounds, resolution: bg.resolution, palette: bg.palette };
}

/** A zoomed tile warped onto a W×H canvas by the canvas transform of align.js tileGeometry. */
export function warpTile(image, transform, W, H) {
  const canvas = document.createElement("canvas");
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.setTransform(...transform);
  ctx.drawImage(image, 0, 0);
  return canvas;
}

/**
 * Builds pane k showing `entry` (a run of GET runs). view: the CompareView (callbacks setPaneRun,
 * stepPane, removePane, hover / select / view linking); runs: every run for the picker.
 */
export function makePane(view, entry, k, runs) {
  const run = entry.name;
  const p = { run, k, entry, shown: null, want: null, source: null };
  p.session = new RunSession(view.api, { pollMs: 2000, metrics: false });
  p.runSel = h("select", { class: "dvi-select dvi-cmp-runsel", "aria-label": `Run of pane ${k + 1}`, onchange: (e) => view.setPaneRun(k, e.target.value) },
    ...runs.map((r) => h("option", { value: r.name, selected: r.name === run }, r.name)));
  p.epochEl = h("span", { class: "dvi-cmp-ep" });
  p.clampEl = h("span", { class: "dvi-cmp-clamp", hidden: true });
  p.alignEl = h("div", { class: "dvi-cmp-align" });
  const mini = (label, d, text) => h("button", { type: "button", class: "dvi-cmp-mini", "aria-label": `${label} epoch of pane ${k + 1}`, onclick: () => view.stepPane(k, d) }, text);
  p.steps = h("span", { class: "dvi-cmp-steps" }, mini("Previous", -1, "‹"), mini("Next", 1, "›"));
  p.remove = h("button", { type: "button", class: "dvi-x", "aria-label": `Remove pane ${k + 1}`, title: "Remove this run from the comparison", onclick: () => view.removePane(k) }, "×");
  const role = h("span", { class: `dvi-cmp-role${k === 0 ? " ref" : ""}`, text: k === 0 ? "reference" : String.fromCharCode(65 + k) });
  const head = h("div", { class: "dvi-cmp-head" },
    h("div", { class: "dvi-cmp-head-row" }, role, p.runSel, h("span", { class: "dvi-cmp-eplabel" }, "epoch ", p.epochEl), p.steps, p.clampEl, p.remove),
    p.alignEl);
  p.wrap = h("div", { class: "dvi-mapwrap dvi-cmp-mapwrap" });
  p.tip = h("div", { class: "dvi-tooltip", hidden: true });
  p.empty = h("div", { class: "dvi-empty", hidden: false }, h("div", { class: "dvi-spinner" }), h("p", { text: "Loading…" }));
  p.el = h("div", { class: "dvi-cmp-pane", "data-run": run, "data-pane": String(k) }, head, p.wrap);
  p.map = new MapView(p.wrap, {
    onHover: (ev) => view.onPaneHover(p, ev),
    onSelect: (ev) => view.onPaneSelect(p, ev),
    onViewChange: (v) => view.onPaneView(p, v),
  });
  p.map.setBoundsHook((b) => view.commonBounds(p, b));
  p.trails = new TrailLoader(view.api, p.map, (n) => { p.el.dataset.trails = String(n); });
  p.wrap.append(p.tip, p.empty);
  p.map.setTool("pan");
  return p;
}

/** Loads the trails of the selection `s.sel` in pane p, mapped like its points (view: the CompareView). */
export function loadPaneTrails(view, p, s) {
  if (view.data.fromRef(p)) {  // the positions of this run laid out from the reference run
    const ref = view.panes[0].run;
    const data = { samples: p.session.samples, palette: p.session.palette, fitted: view.fittedOf(p) };
    p.trails.load(p.run, data, s.sel, { on: s.trails, ref })
      .catch((e) => view.notes.set("error", `Could not load the trajectories of "${p.run}": ${e.message || e}`));
    return;
  }
  const aligned = view.store.get().align === "procrustes" && p.k > 0;
  const transform = aligned ? async (tr) => {
    const Ts = [];
    for (const ep of tr.epochs) Ts.push(p.session.fitted.includes(ep) ? (await view.data.projection(p, ep)).align : null);
    return alignTrajectories(tr.positions, Ts);
  } : null;
  p.trails.load(p.run, p.session, s.sel, { on: s.trails, transform, keyExtra: aligned ? view.panes[0].run : "" })
    .catch((e) => view.notes.set("error", `Could not load the trajectories of "${p.run}": ${e.message || e}`));
}

/** Removes a pane's map and stops its polling. */
export function destroyPane(p) { p.session.close(); p.map.destroy(); if (p.fromFit) p.fromFit.close(); }

/** Shows a spinner or an error in the pane instead of its map (null text: hide). */
export function paneMessage(p, text, { busy = false, error = false } = {}) {
  p.empty.hidden = !text;
  if (!text) return;
  p.empty.className = `dvi-empty${error ? " error" : ""}`;
  p.empty.replaceChildren(...(busy ? [h("div", { class: "dvi-spinner" })] : []), h("p", { text }));
}

/** The pane's head: shown epoch, the note when it is clamped, the alignment it uses. */
export function renderPaneHead(p, { lock, panes, aligned, mode, fittedOf }) {
  p.epochEl.textContent = p.shown === null ? "—" : String(p.shown);
  p.epochEl.dataset.epoch = String(p.shown);
  const fitted = fittedOf ? fittedOf(p) : p.session.fitted;
  const clamped = p.want !== null && p.shown !== null && p.want !== p.shown;
  p.clampEl.hidden = !clamped;
  if (clamped) {
    const logged = p.entry.epochs && p.entry.epochs.includes(p.want);
    p.clampEl.textContent = logged ? `shows epoch ${p.shown}, not ${p.want}: epoch ${p.want} is not fitted yet`
      : `shows epoch ${p.shown}, not ${p.want}: no epoch ${p.want} in this run (last: ${fitted[fitted.length - 1]})`;
    p.clampEl.title = `"${p.run}" shows epoch ${p.shown}, the closest fitted epoch before ${p.want}.`;
  }
  p.steps.hidden = lock;
  p.remove.hidden = panes.length <= 2;
  p.el.dataset.epoch = String(p.shown);
  p.el.dataset.clamped = clamped ? "1" : "0";
  const T = p.map.proj && p.map.proj.align;
  p.el.dataset.from = mode === "fitted" && p.k > 0 && p.fromFit ? (p.fromFit.info ? p.fromFit.info.state : "starting") : "";
  if (p.k === 0) {
    p.alignEl.textContent = mode === "fitted" ? "the other panes are fitted with this run's maps as their layout"
      : aligned ? "other panes are aligned to this map" : "own coordinates";
  } else if (mode === "fitted") {
    renderFromHead(p);
  } else if (!aligned) {
    p.alignEl.textContent = "own coordinates (alignment off)";
  } else if (T && !T.identity) {
    const deg = Math.round(T.angle) || 0;  // no "-0°"
    const other = panes[0].shown !== null && panes[0].shown !== T.refEpoch ? ` (the reference shows ${panes[0].shown})` : "";
    p.alignEl.textContent = `aligned to ${panes[0].run} @ ${T.refEpoch}${other}: ${T.reflect ? "mirrored, " : ""}rotated ${deg}°, ×${T.s.toPrecision(2)} · median residual ${(100 * T.med).toFixed(0)}% of spread${T.med > 0.5 ? " (the maps differ in shape)" : ""}`;
    p.alignEl.title = `Orthogonal Procrustes with scale, fitted on the ${T.kept} of ${T.n} shared samples that agree best (docs/COMPARE.md). ` +
      `Median residual: median distance to the reference positions after alignment, relative to the reference map's RMS spread ` +
      `(${(100 * T.plainMed).toFixed(0)}% with a fit on all samples; RMS over all: ${(100 * T.rel).toFixed(0)}%).`;
  } else if (T) {
    p.alignEl.textContent = `too few shared samples to align (${T.n})`;
  } else {
    // no transform: the reference (or this pane) has no fitted epoch yet, not a lack of shared samples
    const waiting = !panes[0].session.fitted.length ? panes[0].run : p.run;
    p.alignEl.textContent = `not aligned yet: "${waiting}" is not fitted yet`;
  }
}

/** The head of a pane fitted from the reference run: what it shows, the fit's progress, Cancel. */
function renderFromHead(p) {
  const f = p.fromFit, st = f ? f.text : { text: "" };
  const F = p.map.proj && p.map.proj.from;
  const shows = F && p.shown !== null ? `${p.run} @ ${p.shown}, laid out from ${F.ref} @ ${F.refEpoch}` +
    (Number.isFinite(F.med) ? ` · median distance ${(100 * F.med).toFixed(0)}% of spread, no rotation` : "") : null;
  const busy = f && f.info && (f.info.state === "running" || f.info.state === "queued");
  const cancel = busy ? h("button", { type: "button", class: "dvi-link dvi-cmp-fromcancel", onclick: () => f.cancel() }, "Cancel") : null;
  const retry = f && !busy && (st.error || (f.info && f.info.state === "cancelled")) ? h("button", { type: "button", class: "dvi-link", onclick: () => f.start() }, "Retry") : null;
  p.alignEl.replaceChildren(h("span", { class: "dvi-cmp-from", "data-testid": "from-label", text: shows || st.text }),
    ...(shows && (busy || st.error || st.waiting) ? [h("span", { class: "dvi-cmp-fromstate", text: ` · ${st.text.split(": ").slice(1).join(": ")}` })] : []),
    ...(cancel ? [" ", cancel] : []), ...(retry ? [" ", retry] : []));
  p.alignEl.title = "Fitted with the reference run's map of the same epoch as its starting layout: samples whose high-D neighbours are the same in both runs " +
    "are held near the reference position, the others placed by this run's own neighbourhoods (engine/reference.py, docs/COMPARE.md). Predictions and colours are this run's own.";
}

/** The tooltip of pane p for sample row `index`: the sample's label → prediction in every pane. */
export function showPaneTooltip(p, panes, index, ev, api) {
  const id = p.session.samples.ids[index];
  const thumb = p.entry.has_thumbnails ? h("img", { class: "dvi-thumb", src: api.thumbnailUrl(p.run, id), alt: "" }) : null;
  if (thumb) thumb.addEventListener("error", () => thumb.remove());
  const rows = panes.map((q) => {
    const { samples, palette, classNames: names } = q.session;
    const i = samples ? samples.indexOf(id) : -1;
    const proj = q.map.proj;
    if (i < 0 || !proj) return h("div", { class: "dvi-cmp-tiprow" }, h("span", { class: "k", text: q.run }), h("span", { class: "k", text: " not logged" }));
    const lab = samples.labels[i], pred = proj.predictions[i];
    return h("div", { class: "dvi-cmp-tiprow" },
      h("span", { class: "k", text: `${q.run} @ ${q.shown}` }),
      h("span", {}, swatch(palette[lab]), names[lab] ?? String(lab), isNoisy(samples, proj, i) ? h("span", { class: "tag noisy", text: "noisy" }) : null,
        h("span", { class: "k", text: " → " }),
        swatch(palette[pred]), h("b", { class: isWrong(proj, i) ? "wrong" : "", text: names[pred] ?? String(pred) }),
        h("span", { class: "k", text: ` ${(proj.confidence[i] * 100).toFixed(0)}%` })));
  });
  const T = p.tip;
  T.replaceChildren(...(thumb ? [thumb] : []), h("div", { class: "dvi-tip-body" },
    h("div", { class: "dvi-tip-title" }, h("b", { text: `#${id}` }), h("span", { class: "dvi-tip-split", text: p.session.samples.split[index] ? "test" : "train" })),
    h("div", { class: "k dvi-cmp-tipcap", text: "label → prediction" }), ...rows));
  T.dataset.id = String(id);
  placeTooltip(T, p.wrap, ev.px, ev.py);
}
