// Entry point of the DVI tab. TensorBoard imports this module inside the plugin iframe
// (<base href="plugin/dvi/">) and calls render(). Start-up only: the stylesheet, the backend's
// catalogue, the store from the URL, the tab (tab.js) and its first run.

import { Api } from "./api.js";
import { Store, DEFAULTS, readUrlState } from "./store.js";
import { useCatalogue } from "./catalogue.js";
import { injectStyle } from "./ui.js";
import { Tab } from "./tab.js";

export async function render() {
  const api = new Api("./");
  const [, served] = await Promise.all([injectStyle("style.css"), api.catalogue().catch(() => null)]);
  useCatalogue(served);  // null (an older server, or no answer yet): the built-in fallback
  document.body.classList.add("dvi-body");
  const root = document.createElement("div");
  root.className = "dvi-root";
  document.body.appendChild(root);
  const tab = new Tab(root, { api, store: new Store(readUrlState()) });
  window.__dvi = tab;  // for tests and the benchmark
  await tab.start();
  return tab;
}

export { Tab, DEFAULTS };
