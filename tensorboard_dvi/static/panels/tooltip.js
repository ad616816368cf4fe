// Map tooltip: hovering a sample shows its id, split, thumbnail or text, label, prediction,
// confidence, tags and metadata, then (after a short pause) its top-k classes and tabular
// feature values from `GET sample`; hovering the background (regions shown) asks the server what the model predicts there.

import { h, placeTooltip, swatch } from "../ui.js";
import { isWrong, isNearBoundary, isNoisy } from "../encode.js";
import { textBlock, pairsBlock, detailBlock } from "./sample_info.js";

const DETAIL_DELAY_MS = 60;

export class TooltipPanel {
  constructor({ store, session, map, binding, api, mapWrap, extras }) {
    Object.assign(this, { store, session, map, api, mapWrap, extras });
    this.el = h("div", { class: "dvi-tooltip", hidden: true });
    binding.on("hover", (ev) => this.onHover(ev));
  }

  render() {}

  onHover(ev) {
    const T = this.el, session = this.session;
    clearTimeout(this._timer);
    if (!ev || !session.samples || !this.map.proj) { T.hidden = true; this.map.setHighlight(-1); return; }
    if (ev.index >= 0) { this.showSample(ev); return; }
    this.map.setHighlight(-1);
    if (!this.store.get().bg) { T.hidden = true; return; }
    const run = session.name, ep = session.shownEpoch;
    this._timer = setTimeout(async () => {
      try {
        const r = await this.api.predictAt(run, ep, ev.dataX, ev.dataY);
        if (session.shownEpoch !== ep || session.name !== run) return;
        if (!r.inside) { T.hidden = true; return; }
        const c = r.class;
        T.replaceChildren(h("div", { class: "dvi-tip-body" },
          h("div", { class: "k", text: "the model predicts here" }),
          h("div", {}, swatch(session.palette[c]), h("b", { text: r.class_name ?? session.classNames[c] }),
            h("span", { class: "k", text: ` · ${(r.confidence * 100).toFixed(1)}%` }))));
        T.dataset.kind = "background";
        delete T.dataset.id;
        placeTooltip(T, this.mapWrap, ev.px, ev.py);
      } catch (e) { T.hidden = true; }
    }, 90);
  }

  showSample(ev) {
    const T = this.el, { samples: s, palette, classNames: names, run } = this.session;
    const proj = this.map.proj, i = ev.index;
    this.map.setHighlight(i);
    const id = s.ids[i];
    const label = s.labels[i], pred = proj.predictions[i];
    const tags = [];
    if (isWrong(proj, i)) tags.push(h("span", { class: "tag wrong", text: "misclassified" }));
    if (isNearBoundary(proj, i)) tags.push(h("span", { class: "tag", text: "near boundary" }));
    if (isNoisy(s, proj, i)) tags.push(h("span", { class: "tag noisy", text: "noisy label" }));
    const thumb = run.has_thumbnails ? h("img", { class: "dvi-thumb", src: this.api.thumbnailUrl(run.name, id), alt: "" }) : null;
    if (thumb) thumb.addEventListener("error", () => thumb.remove());
    T.replaceChildren(
      ...(thumb ? [thumb] : []),
      h("div", { class: "dvi-tip-body" },
        h("div", { class: "dvi-tip-title" }, h("b", { text: `#${id}` }), h("span", { class: "dvi-tip-split", text: s.split[i] ? "test" : "train" })),
        h("div", {}, h("span", { class: "k", text: "label " }), swatch(palette[label]), names[label] ?? String(label)),
        h("div", {}, h("span", { class: "k", text: "prediction " }), swatch(palette[pred]),
          names[pred] ?? String(pred), h("span", { class: "k", text: ` · ${(proj.confidence[i] * 100).toFixed(1)}%` })),
        tags.length ? h("div", { class: "dvi-tags" }, tags) : null,
        textBlock(this.extras.textOf(i)), pairsBlock(this.extras.metadataOf(i))));
    T.dataset.kind = "sample";
    T.dataset.id = String(id);
    placeTooltip(T, this.mapWrap, ev.px, ev.py);
    this._timer = setTimeout(() => this.addDetail(id, ev), DETAIL_DELAY_MS);
  }

  /** Top-k classes and feature values of the hovered sample, once `GET sample` answers. */
  async addDetail(id, ev) {
    const T = this.el, epoch = this.session.shownEpoch;
    let d;
    try { d = await this.extras.detail(id, epoch); } catch (e) { return; }
    if (T.hidden || T.dataset.id !== String(id) || this.session.shownEpoch !== epoch) return;
    T.querySelector(".dvi-tip-body").append(detailBlock(d, this.session.palette));
    T.dataset.detail = String(id);
    placeTooltip(T, this.mapWrap, ev.px, ev.py);
  }
}
