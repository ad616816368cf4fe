// Playback bar: play / pause, previous / next epoch, the epoch slider with one tick per logged
// epoch (fitted, pending, poor faithfulness, damaged), the epoch label; keyboard ← → space.
// The slider and its ticks share one domain, the logged epochs: tick k sits under slider value k.
// An unfitted epoch can be picked: the map keeps the closest fitted one (the label says so) and
// shows the wanted one when it is ready.
// Playing waits for each epoch to be on screen and its transition to finish, then dwells.

import { h, typingIn } from "../ui.js";
import { stepEpoch } from "../epochs.js";

const DWELL_MS = 350;
const THUMB_PX = 16;  // .dvi-ticks in style.css: the slider thumb's travel is the width less this
const ICONS = {
  play: "M8 5v14l11-7z",
  pause: "M6 19h4V5H6v14zm8-14v14h4V5h-4z",
  prev: "M6 6h2v12H6zm3.5 6l8.5 6V6z",
  next: "M6 18l8.5-6L6 6v12zM16 6v12h2V6h-2z",
};

function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "22");
  svg.setAttribute("height", "22");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  return svg;
}

export class PlaybackPanel {
  constructor({ store, session, map }) {
    Object.assign(this, { store, session, map });
    this.playing = false;
    const btn = (name, label, title, onclick) => h("button", { type: "button", class: "dvi-icon", title, "aria-label": label, onclick }, icon(name));
    this.play = btn("play", "Play", "Play / pause (space)", () => this.toggle());
    this.prev = btn("prev", "Previous epoch", "Previous epoch (←)", () => this.step(-1));
    this.next = btn("next", "Next epoch", "Next epoch (→)", () => this.step(1));
    this.slider = h("input", { type: "range", class: "dvi-slider", min: 0, max: 0, value: 0, step: 1, "aria-label": "Epoch",
      oninput: (e) => { const ep = this.logged()[Number(e.target.value)]; if (ep !== undefined) store.set({ epoch: ep }); } });
    this.ticks = h("div", { class: "dvi-ticks" });
    this.label = h("div", { class: "dvi-epoch" });
    this.el = h("div", { class: "dvi-playback" }, this.play, this.prev, h("div", { class: "dvi-sliderwrap" }, this.slider, this.ticks), this.next, this.label);
    session.on("run", () => { this.stop(); this.render(); });
    session.on("fitted", () => this.render());
    session.on("metrics", () => this.renderTicks());
    session.on("showing", () => this.sync());
    store.subscribe((s, changed) => { if (changed.has("epoch")) this.sync(); });
    // "Compare runs" takes over the epoch: stop playing
    store.subscribe((s, changed) => { if (changed.has("compare") && s.compare.length >= 2) this.stop(); });
    document.addEventListener("keydown", (e) => this.onKey(e));
  }

  logged() { return this.session.run ? this.session.run.epochs : []; }

  step(d) {
    const ep = stepEpoch(this.session.fitted, this.session.shownEpoch, d);
    if (ep !== null) this.store.set({ epoch: ep });
  }

  toggle() { if (this.playing) this.stop(); else this.start(); }

  start() {
    const fitted = this.session.fitted;
    if (fitted.length < 2) return;
    this.playing = true;
    this.play.replaceChildren(icon("pause"));
    this.play.setAttribute("aria-label", "Pause");
    if (fitted.indexOf(this.session.shownEpoch) >= fitted.length - 1) this.store.set({ epoch: fitted[0] });
    const tick = async () => {
      if (!this.playing) return;
      // wait until the epoch is on screen (its data may still be loading), then for the transition
      for (let k = 0; k < 300 && this.playing && this.map.epoch !== this.session.shownEpoch; k++) {
        await new Promise((r) => setTimeout(r, 30));
      }
      await this.map.settled();
      await new Promise((r) => setTimeout(r, DWELL_MS));
      if (!this.playing) return;
      const f = this.session.fitted, i = f.indexOf(this.session.shownEpoch);
      if (i >= f.length - 1) { this.stop(); return; }
      this.store.set({ epoch: f[i + 1] });
      this._timer = setTimeout(tick, 30);
    };
    this._timer = setTimeout(tick, 30);
  }

  stop() {
    this.playing = false;
    clearTimeout(this._timer);
    this.play.replaceChildren(icon("play"));
    this.play.setAttribute("aria-label", "Play");
  }

  onKey(e) {
    if (this.store.get().compare.length >= 2) return;  // "Compare runs" has its own keys
    const t = e.target, tag = t && t.tagName;
    if (typingIn(t)) return;  // text fields, selects and the slider handle their own keys
    if (e.key === "ArrowRight") { this.step(1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { this.step(-1); e.preventDefault(); }
    else if (e.key === " " && tag !== "BUTTON") { this.toggle(); e.preventDefault(); }
    else if (e.key === "Escape") { this.store.set({ sel: [] }); }
  }

  /** Slider range and ticks (after the fitted epochs or the metrics changed). */
  render() {
    const fitted = this.session.fitted, all = this.logged(), n = all.length;
    this.slider.max = String(Math.max(0, n - 1));
    this.slider.disabled = fitted.length === 0;
    const run = this.session.run;
    const damaged = (run && run.damaged) || {};
    const poor = this.session.poorEpochs();
    const fittedSet = new Set(fitted);
    // centred under the slider's value positions (the thumb travels 100% - THUMB_PX)
    const width = `max(3px, calc((100% - ${THUMB_PX}px) / ${Math.max(1, n)} - 2px))`;
    this.ticks.replaceChildren(...all.map((ep, k) => {
      const cls = damaged[ep] !== undefined ? "damaged" : !fittedSet.has(ep) ? "pending" : poor.has(ep) ? "poor" : "ready";
      const title = `epoch ${ep}: ${cls === "ready" ? "fitted" : cls === "pending" ? "not fitted yet" : cls === "poor" ? "fitted, poor faithfulness" : "damaged: " + damaged[ep]}`;
      const left = `calc(${THUMB_PX / 2}px + (100% - ${THUMB_PX}px) * ${n > 1 ? k / (n - 1) : 0.5})`;
      return h("span", { class: `tick ${cls}`, title, "data-epoch": ep, style: `left:${left};width:${width}`,
        onclick: () => fittedSet.has(ep) && this.store.set({ epoch: ep }) });
    }));
    this.sync();
  }

  /** Poor-faithfulness marks only (metrics arrive after the ticks). */
  renderTicks() {
    const poor = this.session.poorEpochs();
    for (const t of this.ticks.children) {
      if (t.classList.contains("ready") || t.classList.contains("poor")) {
        const p = poor.has(Number(t.dataset.epoch));
        t.classList.toggle("poor", p);
        t.classList.toggle("ready", !p);
      }
    }
  }

  /** Slider position (the wanted epoch) and label (the shown one, and the wanted one while it is not fitted). */
  sync() {
    const ep = this.session.shownEpoch, all = this.logged();
    const want = this.store.get().epoch;
    const target = all.includes(want) ? want : ep;
    const i = all.indexOf(target);
    if (i >= 0) this.slider.value = String(i);
    const pending = ep !== null && target !== ep;
    this.label.replaceChildren(
      h("span", { class: "dvi-epoch-label", text: "Epoch" }),
      h("b", { "data-testid": "epoch", text: ep === null ? "—" : String(ep) }),
      h("span", { class: "dvi-epoch-of", text: all.length ? ` / ${all[all.length - 1]}` : "" }),
      ...(pending ? [h("span", { class: "dvi-epoch-pending", "data-testid": "epoch-pending", text: ` (${target} not fitted yet)` })] : []));
    for (const t of this.ticks.children) {
      t.classList.toggle("current", Number(t.dataset.epoch) === ep);
      t.classList.toggle("wanted", pending && Number(t.dataset.epoch) === target);
    }
  }
}
