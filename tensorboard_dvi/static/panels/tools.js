// Map tools: pan / box / lasso and "Fit view".

import { h, segmented, setSegmented } from "../ui.js";

export class ToolsPanel {
  constructor({ map }) {
    this.map = map;
    this.tools = segmented("tool", [["pan", "Pan"], ["box", "Box"], ["lasso", "Lasso"]], (v) => this.setTool(v));
    this.tools.title = "Drag to pan (Pan), or to select (Box, Lasso). Shift+drag always lassoes; shift+click adds to the selection.";
    const fit = h("button", { type: "button", class: "dvi-btn", title: "Fit the view (double-click the map)", onclick: () => map.resetView() }, "Fit view");
    this.el = h("div", { class: "dvi-tools" }, this.tools, fit);
    this.setTool("pan");
  }

  setTool(t) {
    this.tool = t;
    setSegmented(this.tools, t);
    this.map.setTool(t);
  }
}
