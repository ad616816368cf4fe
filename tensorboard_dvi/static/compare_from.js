// "Fitted from A" in Compare runs: one pane's run fitted with the reference pane's run as its layout
// (engine/reference.py, routes fit_from of docs/HTTP_API.md). FromFit starts the fit, polls its
// state while it runs or waits for the reference, and restarts it when the reference has fitted
// more epochs; fromText says what the pane shows. No DOM: Node tests in tests/js/compare_from.test.mjs.

const POLL_MS = 1500;

/** The pane head's words for the state `info` of GET fit_from (null: not asked yet), or an error. */
export function fromText(run, ref, info, error = null) {
  const base = `${run}, laid out from ${ref}`;
  if (error) {
    if (error.code === "reference_not_fitted") return { text: `${base}: waiting for "${ref}" to be fitted`, busy: true, waiting: true };
    return { text: `${base}: ${error.message || error}`, error: true };
  }
  if (!info) return { text: `${base}: starting…`, busy: true };
  const wait = info.waiting_for_ref || [];
  const waitNote = wait.length ? ` · epochs ${rangeText(wait)} wait for "${ref}"` : "";
  if (info.state === "queued" || info.state === "running") {
    const total = info.epochs_total || 0, done = info.epochs_done || 0;
    const pct = total && Number.isFinite(info.fraction) ? ` (${Math.round(100 * info.fraction)}%)` : "";
    const ep = info.epoch !== null && info.epoch !== undefined ? `epoch ${info.epoch}, ` : "";
    const what = info.state === "queued" ? "waiting for a worker" : `${ep}${done} of ${total} done${pct}`;
    return { text: `${base}: fitting, ${what}${waitNote}`, busy: true };
  }
  if (info.state === "error") return { text: `${base}: fitting failed (${info.error || "see TensorBoard's log"})`, error: true };
  if (info.state === "cancelled" && !(info.fitted || []).length) return { text: `${base}: cancelled`, error: true };
  return { text: `${base}${waitNote}`, busy: false };
}

/** "1–3, 5" for sorted epochs. */
export function rangeText(epochs) {
  const out = [];
  for (let i = 0; i < epochs.length; i++) {
    let j = i;
    while (j + 1 < epochs.length && epochs[j + 1] === epochs[j] + 1) j++;
    out.push(j > i ? `${epochs[i]}–${epochs[j]}` : String(epochs[i]));
    i = j;
  }
  return out.join(", ");
}

/** What to do after a GET/POST answer: "start" when the reference has fitted epochs that are not
 *  fitted from it yet and no job runs, "poll" while a job runs, else "idle". */
export function nextStep(info) {
  if (!info) return "idle";
  if (info.state === "queued" || info.state === "running") return "poll";
  if (info.state === "error" || info.state === "cancelled") return "idle";  // the user decides
  const fitted = new Set(info.fitted || []);
  return (info.ready || []).some((e) => !fitted.has(e)) ? "start" : "idle";
}

export class FromFit {
  /** onChange(this) after every answer; `fitted` (sorted epochs fitted from `ref`) and `info` are public. */
  constructor(api, run, ref, onChange) {
    Object.assign(this, { api, run, ref, onChange });
    this.info = null;
    this.error = null;
    this.fitted = [];
    this._timer = 0;
    this._closed = false;
  }

  /** POST fit_from (a 409 means: the reference has no fitted epoch yet; refAdvanced retries). */
  start() { return this._ask("start"); }

  /** The reference pane fitted more epochs: lay those out too. */
  refAdvanced() { if (!this._closed && (this.error || nextStep(this.info) !== "poll")) this.start(); }

  cancel() { return this._ask("cancel"); }

  close() { this._closed = true; clearTimeout(this._timer); }

  get text() { return fromText(this.run, this.ref, this.info, this.error); }

  async _ask(action) {
    clearTimeout(this._timer);
    try {
      this.info = await this.api.fitFrom(this.run, this.ref, action);
      this.error = null;
    } catch (e) {
      this.error = e;
    }
    if (this._closed) return;
    if (this.info) this.fitted = (this.info.fitted || []).slice().sort((a, b) => a - b);
    this.onChange(this);
    const step = this.error ? (this.error.code === "reference_not_fitted" ? "poll" : "idle") : nextStep(this.info);
    // after a poll (not a POST, which started what it could): the reference has more epochs now
    if (step === "start" && action === null) this._timer = setTimeout(() => this.start(), 0);
    else if (step === "poll") this._timer = setTimeout(() => (this.error ? this.start() : this._ask(null)), POLL_MS);
  }
}

/** One FromFit per pane after the first while "fitted from A" is on (pane.fromFit), none otherwise. */
export class FromFits {
  constructor(api, onChange) { Object.assign(this, { api, onChange }); this.panes = []; }

  /** Keeps each other pane's fit for (its run, the first pane's run); closes the rest. */
  sync(panes, on) {
    const ref = panes[0];
    for (const p of this.panes) {
      const keep = on && panes.includes(p) && p !== ref && p.fromFit && p.fromFit.run === p.run && p.fromFit.ref === ref.run;
      if (!keep && p.fromFit) { p.fromFit.close(); p.fromFit = null; }
    }
    this.panes = panes.slice();
    if (!on || !ref) return;
    for (const p of panes.slice(1)) {
      if (p.fromFit) continue;
      p.fromFit = new FromFit(this.api, p.run, ref.run, () => this.onChange(p));
      p.fromFit.start();
    }
  }

  /** The reference pane fitted more epochs. */
  refAdvanced() { for (const p of this.panes) if (p.fromFit) p.fromFit.refAdvanced(); }
}
