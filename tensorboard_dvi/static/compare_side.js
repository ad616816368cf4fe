// The top bar and the side panel of "Compare runs": samples shared by id, the differences between the reference
// and the other panes (diff.js computes them), the agreement matrix and the selection across runs.

import { h, segmented, swatch } from "./ui.js";

/** The top bar of "Compare runs": back, epoch slider and steps, lock, alignment, colour, regions, add a run. */
export function buildTopBar(view) {
  const st = view.store;
  const E = {};
  const btn = (cls, label, title, onclick, text) => h("button", { type: "button", class: cls, "aria-label": label, title, onclick }, text);
  E.prev = btn("dvi-btn dvi-cmp-step", "Previous epoch", "Previous epoch (←)", () => view.step(-1), "‹");
  E.next = btn("dvi-btn dvi-cmp-step", "Next epoch", "Next epoch (→)", () => view.step(1), "›");
  E.slider = h("input", { type: "range", class: "dvi-slider", min: 0, max: 0, value: 0, step: 1, "aria-label": "Compare epoch",
    oninput: (e) => { const ep = view.union[Number(e.target.value)]; if (ep !== undefined) view.setEpoch(ep); } });
  E.epoch = h("div", { class: "dvi-epoch" });
  E.lock = h("input", { type: "checkbox", id: "dvi-cmp-lock", onchange: (e) => view.setLock(e.target.checked) });
  E.align = segmented("Alignment", [["none", "Raw", "Each run's own coordinates"],
    ["procrustes", "Rotate", "Map every pane onto the first one: rotation, mirror and scale fitted on the shared ids (Procrustes)"],
    ["fitted", "Fitted from A", "Fit every other run with the first run's maps as its layout (runs in the background; the first run's epochs must be fitted)"]],
  (v) => st.set({ align: v }), "Alignment");
  E.color = segmented("Colour", [["label", "Label"], ["prediction", "Prediction"], ["correct", "Correctness"]], (v) => st.set({ color: v }), "Colour");
  E.bg = h("input", { type: "checkbox", id: "dvi-cmp-bg", onchange: (e) => st.set({ bg: e.target.checked }) });
  E.add = h("select", { class: "dvi-select dvi-cmp-add", "aria-label": "Add a run", onchange: (e) => { if (e.target.value) view.addRun(e.target.value); e.target.value = ""; } });
  const top = h("div", { class: "dvi-cmp-top" },
    h("button", { type: "button", class: "dvi-btn", title: "Back to one run", onclick: () => view.close() }, "← One run"),
    h("div", { class: "dvi-cmp-playback" }, E.prev, E.slider, E.next, E.epoch),
    h("label", { class: "dvi-check dvi-cmp-lock", for: "dvi-cmp-lock", title: "One epoch for every pane" }, E.lock, "Lock epochs"),
    E.align, E.color,
    h("label", { class: "dvi-check", for: "dvi-cmp-bg" }, E.bg, "Regions"),
    E.add);
  return { E, top };
}

/** The top bar's epoch slider, steps and label for the view's state (union of the panes' epochs). */
export function syncSlider(view) {
  const E = view.el, s = view.store.get();
  const u = view.union;
  const cur = s.lock ? (s.epoch ?? u[0]) : (view.panes[0] && view.panes[0].shown);
  const i = u.indexOf(cur);
  if (i >= 0) E.slider.value = String(i);
  E.slider.disabled = !s.lock || u.length < 2;
  E.prev.disabled = E.next.disabled = !s.lock;
  E.lock.checked = s.lock;
  E.epoch.replaceChildren(h("span", { class: "dvi-epoch-label", text: s.lock ? "Epoch" : "Epochs" }),
    h("b", { "data-testid": "compare-epoch", text: s.lock ? (cur ?? "—") : view.panes.map((p) => p.shown ?? "—").join(" · ") }),
    h("span", { class: "dvi-epoch-of", text: u.length ? ` / ${u[u.length - 1]}` : "" }));
}

/** The "+ Add run" picker: the runs not shown yet (hidden at `max` panes). */
export function renderAdd(view, max) {
  const used = new Set(view.store.get().compare);
  const free = view.session.runs.filter((r) => !used.has(r.name));
  view.el.add.replaceChildren(h("option", { value: "" }, "+ Add run"), ...free.map((r) => h("option", { value: r.name }, r.name)));
  view.el.add.hidden = !free.length || view.panes.length >= max;
}

/** The top bar's keys while comparing: ← → step the locked epoch, Esc clears the selection, space is kept from playback. */
export function compareKey(view, e) {
  if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
    if (view.store.get().lock) view.step(e.key === "ArrowRight" ? 1 : -1);
    e.preventDefault();
    e.stopImmediatePropagation();
  } else if (e.key === "Escape") {
    view.store.set({ sel: [] });
    e.stopImmediatePropagation();
  } else if (e.key === " ") {
    e.stopImmediatePropagation();
  }
}

const pctText = (a, n) => (n ? `${((100 * a) / n).toFixed(1)}%` : "—");

export class CompareSide {
  /** @param view the CompareView (store, panes, pairs(), selectPairs(j, test), highlight(id)). */
  constructor(view) {
    this.view = view;
    const st = view.store;
    this.shared = h("div", { class: "dvi-cmp-shared" });
    this.diffTitle = h("h3", { text: "Differences" });
    this.diffMode = segmented("Highlight", [["off", "Off"], ["disagree", "Differ"], ["flip", "Flipped"]], (v) => st.set({ cdiff: v }), "Highlight");
    this.diffMode.title = "Fade every sample except those predicted differently by the runs (Differ) or whose prediction changed since the previous epoch in one run only (Flipped)";
    this.counts = h("div", { class: "dvi-cmp-counts" });
    this.matrixTitle = h("h3", { text: "Agreement matrix" });
    this.matrix = h("div", { class: "dvi-cmp-matrix" });
    // with more than two panes: which pane the matrix compares with the reference
    this.matSel = h("select", { class: "dvi-select dvi-cmp-matsel", "aria-label": "Agreement matrix: reference vs",
      onchange: (e) => st.set({ cmat: e.target.value }) });
    this.matPick = h("label", { class: "dvi-cmp-matpick", hidden: true }, "vs ", this.matSel);
    this.selTitle = h("h3", {}, "Selection");
    this.selClear = h("button", { type: "button", class: "dvi-link", onclick: () => st.set({ sel: [] }) }, "Clear");
    this.selTitle.append(this.selClear);
    this.sel = h("div", { class: "dvi-cmp-sel" });
    this.el = h("aside", { class: "dvi-panel dvi-cmp-side" },
      h("section", {}, h("h3", { text: "Shared samples" }), this.shared),
      h("section", {}, this.diffTitle, h("div", { class: "dvi-row" }, this.diffMode), this.counts),
      h("section", {}, this.matrixTitle, this.matPick, this.matrix),
      h("section", {}, this.selTitle, this.sel));
  }

  /** Shared-sample counts; returns the note for runs that logged different samples (or null). */
  renderShared() {
    const panes = this.view.panes, ref = panes[0];
    const lines = [];
    for (const p of panes.slice(1)) {
      const pr = this.view.pairs(ref, p);
      if (pr.onlyA || pr.onlyB) lines.push(`${pr.onlyA.toLocaleString()} sample${pr.onlyA === 1 ? "" : "s"} only in ${ref.run}, ${pr.onlyB.toLocaleString()} only in ${p.run} are not compared.`);
    }
    const all = panes.slice(1).map((p) => this.view.pairs(ref, p).n);
    this.shared.replaceChildren(
      h("div", { class: "dvi-cmp-bignum" }, h("b", { text: Math.min(...all).toLocaleString() }), " samples shared by id"),
      ...lines.map((t) => h("div", { class: "dvi-cmp-warn", "data-testid": "not-shared", text: t })));
    if (!lines.length) this.shared.append(h("div", { class: "dvi-hint", text: "All runs logged the same samples." }));
    return lines.length ? `Different sample subsets: ${lines.join(" ")} Alignment and differences use the shared ids.` : null;
  }

  /** Counts per pair and the agreement matrix of the reference vs the picked pane (dvi.cmat). */
  renderDiff(d) {
    const s = this.view.store.get();
    if (!d) {
      this.counts.replaceChildren(h("div", { class: "dvi-hint", text: "Waiting for the maps…" }));
      this.matrix.replaceChildren();
      this.matPick.hidden = true;
      return;
    }
    const panes = this.view.panes, ref = panes[0];
    const epochs = [ref, ...panes.slice(1)].map((p) => p.shown);
    const mixed = epochs.some((e) => e !== ref.shown);
    this.diffTitle.textContent = mixed ? `Differences · ${panes.map((p) => `${p.run} @ ${p.shown}`).join(" vs ")}` : `Differences · epoch ${ref.shown}`;
    this.diffTitle.dataset.mixed = mixed ? "1" : "0";
    this.counts.replaceChildren(...d.pairs.map((r, j) => this._pairBlock(d, r, j)));
    const jm = Math.max(0, d.pairs.findIndex((q) => q.run === s.cmat));
    const r = d.pairs[jm];
    const p = panes[jm + 1];
    this.matPick.hidden = d.pairs.length < 2;
    this.matSel.replaceChildren(...d.pairs.map((q) => h("option", { value: q.run, text: `${q.run} @ ${q.epoch}` })));
    this.matSel.value = r.run;
    this.matrixTitle.textContent = `Agreement · ${ref.run} @ ${ref.shown} vs ${p.run} @ ${p.shown}`;
    const lag = [ref, p].find((q) => q.want !== null && q.shown !== q.want);
    const warn = ref.shown === p.shown ? null : h("div", { class: "dvi-cmp-epochwarn", "data-testid": "matrix-epochs",
      text: `Different epochs: ${s.lock && lag ? `${lag.run} has no fitted epoch ${lag.want} yet, so ` : "(unlocked) "}` +
        `this compares ${ref.run} @ ${ref.shown} with ${p.run} @ ${p.shown}.` });
    this.matrix.replaceChildren(...(warn ? [warn] : []), this._matrixTable(d.C, r, ref, p, jm),
      h("div", { class: "dvi-hint", text: `rows: ${ref.run}'s prediction, columns: ${p.run}'s; ${r.n.toLocaleString()} shared samples. Click a cell to select its samples.` }));
  }

  _pairBlock(d, r, j) {
    const ref = this.view.panes[0];
    const row = (label, value, cls, testid, pick, title) => h("div", { class: `dvi-cmp-count ${cls || ""}`, "data-testid": testid, title },
      h("span", { class: "lab", text: label }), h("b", { text: value.toLocaleString() }),
      pick && value ? h("button", { type: "button", class: "dvi-link", onclick: pick, title: "Select these samples" }, "select") : h("span"));
    const flipNote = r.hasPrev ? `Flipped: prediction changed since ${ref.run} @ ${r.prevA} / ${r.run} @ ${r.prevB}` : "Flipped: no earlier fitted epoch to compare with";
    return h("div", { class: "dvi-cmp-pair", "data-run": r.run },
      d.pairs.length > 1 ? h("div", { class: "dvi-cmp-pairhead", text: `${ref.run} vs ${r.run}` }) : null,
      h("div", { class: "dvi-cmp-agree" },
        h("div", { class: "dvi-cmp-agreebar" }, h("div", { style: `width:${r.n ? (100 * r.agree) / r.n : 0}%` })),
        h("span", { text: `${pctText(r.agree, r.n)} agree` })),
      row("Same prediction", r.agree, "ok", "agree", null),
      row("Predicted differently", r.disagree, "bad", "disagree", () => this.view.selectPairs(j, (a, b) => a !== b),
        `${ref.run} @ ${ref.shown} and ${r.run} @ ${r.epoch} predict a different class`),
      h("div", { class: "dvi-cmp-sub", text: flipNote }),
      row(`only in ${ref.run}`, r.flipA, "flip", "flip-a", null),
      row(`only in ${r.run}`, r.flipB, "flip", "flip-b", null),
      row("in both", r.flipBoth, "flip both", "flip-both", null));
  }

  _matrixTable(C, r, ref, p, jm) {
    const names = ref.session.classNames;
    let max = 1, maxDiag = 1;
    for (let a = 0; a < C; a++) for (let b = 0; b < C; b++) {
      if (a !== b) max = Math.max(max, r.matrix[a][b]); else maxDiag = Math.max(maxDiag, r.matrix[a][a]);
    }
    const name = (c) => names[c] ?? String(c);
    const short = (n) => (n.length > 3 ? n.replace(/^(digit|class)\s*/i, "").slice(0, 3) : n);
    const head = h("tr", {}, h("th", { class: "corner", title: `rows: ${ref.run}, columns: ${p.run}`, text: "↓→" }),
      ...Array.from({ length: C }, (_, b) => h("th", { title: name(b), text: short(name(b)) })));
    const rows = Array.from({ length: C }, (_, a) => h("tr", {},
      h("th", { title: name(a), text: short(name(a)) }),
      ...Array.from({ length: C }, (_, b) => {
        const v = r.matrix[a][b];
        const diag = a === b;
        const f = v ? (diag ? 0.15 + 0.85 * Math.sqrt(v / maxDiag) : 0.2 + 0.8 * Math.sqrt(v / max)) : 0;
        const bg = v ? (diag ? `rgba(67,160,71,${(0.12 + 0.5 * f).toFixed(3)})` : `rgba(229,57,53,${(0.15 + 0.75 * f).toFixed(3)})`) : "transparent";
        return h("td", {
          class: `${diag ? "diag" : "off"}${v ? "" : " zero"}`, style: `background:${bg}`, "data-a": a, "data-b": b,
          title: `${v} sample${v === 1 ? "" : "s"}: ${ref.run} predicts ${names[a]}, ${p.run} predicts ${names[b]}${v ? " (click to select)" : ""}`,
          onclick: v ? () => this.view.selectPairs(jm, (x, y) => x === a && y === b) : null,
        }, v ? String(v) : "");
      })));
    return h("table", { class: "dvi-cmp-mtable", "data-total": String(r.n), "data-vs": p.run }, head, ...rows);
  }

  /** The selected ids with label → prediction in every pane (first 60). */
  renderSelection() {
    const sel = this.view.store.get().sel, panes = this.view.panes;
    this.selClear.hidden = !sel.length;
    this.selTitle.firstChild.textContent = sel.length ? `Selection · ${sel.length.toLocaleString()}` : "Selection";
    if (!sel.length) { this.sel.replaceChildren(h("div", { class: "dvi-hint", text: "Click a sample in any pane (shift+drag to lasso): it is selected, with its trail, in every pane." })); return; }
    const head = h("div", { class: "dvi-cmp-selrow head" }, h("span", { text: "id" }), ...panes.map((p) => h("span", { class: "run", title: p.run, text: p.run })));
    const rows = sel.slice(0, 60).map((id) => h("div", {
      class: "dvi-cmp-selrow",
      onmouseenter: () => this.view.highlight(id), onmouseleave: () => this.view.highlight(null),
    }, h("span", { class: "id", text: `#${id}` }), ...panes.map((p) => {
      const { samples, palette, classNames: names } = p.session;
      const i = samples ? samples.indexOf(id) : -1;
      if (i < 0 || !p.map.proj) return h("span", { class: "na", text: i < 0 ? "not logged" : "" });
      const pred = p.map.proj.predictions[i], lab = samples.labels[i];
      return h("span", { class: pred !== lab ? "wrong" : "" }, swatch(palette[pred]), names[pred] ?? String(pred));
    })));
    this.sel.replaceChildren(head, ...rows);
    if (sel.length > 60) this.sel.append(h("div", { class: "dvi-hint", text: `first 60 of ${sel.length.toLocaleString()} listed` }));
  }
}
