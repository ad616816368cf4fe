// RunExtras: the per-sample extras of the open run (texts, metadata columns; docs/HTTP_API.md),
// loaded once per run (after its first map), and a small cache of `GET sample?epoch` answers (top-k classes,
// tabular features) for the tooltip. Events: `extras` (texts/metadata of the open run are ready).

import { Emitter } from "./events.js";

const DETAIL_CACHE = 300;

export class RunExtras extends Emitter {
  constructor(api, session) {
    super();
    Object.assign(this, { api, session });
    this.texts = null;
    this.columns = {};
    this._detail = new Map();
    // Loaded after the run's first map is painted, so that they never delay it.
    session.on("run", () => { this.reset(); this._pending = this.runName; });
    session.on("epoch", () => { if (this._pending && this._pending === this.runName) { this._pending = null; this.load(); } });
  }

  reset() {
    this.texts = null;
    this.columns = {};
    this._detail.clear();
  }

  get runName() { return this.session.run ? this.session.run.name : null; }
  get columnNames() { return Object.keys(this.columns); }
  textOf(i) { return this.texts ? this.texts[i] ?? null : null; }

  async load() {
    const run = this.session.run;
    this.reset();
    if (!run) return;
    const name = run.name;
    const [texts, meta] = await Promise.all([
      run.has_texts ? this.api.texts(name).catch(() => null) : null,
      (run.metadata_columns || []).length ? this.api.metadata(name).catch(() => null) : null,
    ]);
    if (this.runName !== name) return;
    this.texts = texts ? texts.texts : null;
    this.columns = meta ? meta.columns : {};
    this.emit("extras", { run: name });
  }

  /** Metadata of row i: [[column, value], ...]. */
  metadataOf(i) { return Object.entries(this.columns).map(([k, vs]) => [k, vs[i]]); }

  /** `GET sample?epoch` of one id (cached): features and top_k. */
  detail(id, epoch) {
    const key = `${this.runName}\u0000${id}\u0000${epoch}`;
    if (!this._detail.has(key)) {
      if (this._detail.size >= DETAIL_CACHE) this._detail.delete(this._detail.keys().next().value);
      const p = this.api.sample(this.runName, id, epoch);
      p.catch(() => this._detail.delete(key));
      this._detail.set(key, p);
    }
    return this._detail.get(key);
  }
}
