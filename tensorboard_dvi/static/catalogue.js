// The backend's catalogue (GET catalogue, docs/HTTP_API.md): flag bits, the near-boundary
// margin, the class palette and the training-dynamics signals and queries with their help and
// defaults (a signal's `min`/`max` bound its values; a query parameter may carry a short `label`). The tab reads these names from here only. FALLBACK is what a server without the
// route (older than the catalogue) serves implicitly; it is the one hand-kept copy, used only then.

export const FALLBACK = Object.freeze({
  flags: { misclassified: 1, noisy: 2, near_boundary: 4 },
  near_boundary_margin: 0.1,
  palette: [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
  ],
  signals: [
    { name: "mislabel_score", label: "Mislabel score", kind: "float", min: 0, max: 1, help: "How likely the given label is wrong, in [0, 1]: ½(1 − correctness) + ½(1 − geometric-mean confidence)." },
    { name: "conf_mean", label: "Confidence (mean)", kind: "float", min: 0, max: 1, help: "Mean over epochs of the softmax probability of the given label (cartography confidence)." },
    { name: "conf_std", label: "Variability", kind: "float", min: 0, help: "Standard deviation over epochs of that probability (cartography variability)." },
    { name: "correct_rate", label: "Correct-epoch rate", kind: "float", min: 0, max: 1, help: "Fraction of epochs in which the prediction equals the given label." },
    { name: "forgetting", label: "Forgetting events", kind: "count", min: 0, help: "Times the sample went from correctly to wrongly predicted between consecutive epochs." },
    { name: "flips", label: "Prediction flips", kind: "count", min: 0, help: "Times the predicted class changed between consecutive epochs." },
    { name: "boundary_crossings", label: "Boundary crossings", kind: "count", min: 0, help: "Times the sample crossed the boundary of its labelled class's region, either way." },
    { name: "near_boundary_epochs", label: "Epochs close to a boundary", kind: "count", min: 0, help: "Epochs with normalised top-1 − top-2 logit margin below 0.1." },
    { name: "distance_travelled", label: "Distance travelled (2-D)", kind: "float", min: 0, help: "Sum of the 2-D steps on the map between consecutive fitted epochs." },
    { name: "loss_mean", label: "Loss (mean)", kind: "float", min: 0, help: "Mean over epochs of the cross-entropy of the given label." },
    { name: "final_loss", label: "Loss (last epoch)", kind: "float", min: 0, help: "Cross-entropy of the given label at the last epoch." },
    { name: "margin_mean", label: "Margin (AUM)", kind: "float", help: "Mean over epochs of logit[label] − max other logit (area under the margin)." },
    { name: "final_correct", label: "Correct at the last epoch", kind: "flag", min: 0, max: 1, help: "1 when the last epoch predicts the given label." },
    { name: "final_near_boundary", label: "Close to a boundary at the last epoch", kind: "flag", min: 0, max: 1, help: "1 when the last epoch's normalised margin is below 0.1." },
  ],
  queries: [
    { name: "likely_mislabelled", label: "Likely mislabelled", help: "Highest mislabel score first.", params: [
      { name: "n", label: "top n", type: "int", default: 100, min: 1, help: "top n by mislabel score" },
      { name: "fraction", label: "top fraction", type: "float", default: null, min: 0, max: 1, help: "top fraction of the candidates" },
      { name: "threshold", label: "score ≥", type: "float", default: null, min: 0, max: 1, help: "mislabel score ≥ threshold" },
      { name: "split", type: "choice", default: "all", choices: ["all", "train", "test"], help: "which samples" }] },
    { name: "crossed_boundary", label: "Crossed the boundary ≥ k times", help: "Boundary crossings (correct ↔ wrong) of at least k.", params: [
      { name: "k", type: "int", default: 1, min: 1, help: "at least this many crossings" },
      { name: "split", type: "choice", default: "all", choices: ["all", "train", "test"], help: "which samples" }] },
    { name: "largest_movers", label: "Largest movers on the map", help: "The n samples that travelled the longest 2-D distance.", params: [
      { name: "n", type: "int", default: 100, min: 1, help: "how many" },
      { name: "split", type: "choice", default: "all", choices: ["all", "train", "test"], help: "which samples" }] },
    { name: "stuck_near_boundary", label: "Stuck close to a boundary", help: "Near the boundary in at least this fraction of epochs, and at the last one.", params: [
      { name: "fraction", type: "float", default: 0.5, min: 0, max: 1, help: "fraction of epochs" },
      { name: "split", type: "choice", default: "all", choices: ["all", "train", "test"], help: "which samples" }] },
    { name: "still_misclassified", label: "Still misclassified at the last epoch", help: "Wrong at the last logged epoch.", params: [
      { name: "split", type: "choice", default: "all", choices: ["all", "train", "test"], help: "which samples" }] },
  ],
});

/** Flag bits of GET projection's `flags` (live: updated when the catalogue arrives). */
export const FLAGS = { WRONG: 1, NOISY: 2, BOUNDARY: 4 };

let current = FALLBACK;

/** The catalogue in use (FALLBACK until useCatalogue). */
export function catalogue() { return current; }

/** Takes a served catalogue (missing parts fall back), updates FLAGS; returns the merged catalogue. */
export function useCatalogue(served) {
  const c = { ...FALLBACK, ...(served || {}) };
  for (const key of ["palette", "signals", "queries"]) if (!Array.isArray(c[key]) || !c[key].length) c[key] = FALLBACK[key];
  c.flags = { ...FALLBACK.flags, ...(c.flags || {}) };
  FLAGS.WRONG = c.flags.misclassified;
  FLAGS.NOISY = c.flags.noisy;
  FLAGS.BOUNDARY = c.flags.near_boundary;
  c.signal = Object.fromEntries(c.signals.map((s) => [s.name, s]));
  c.query = Object.fromEntries(c.queries.map((q) => [q.name, q]));
  current = c;
  return c;
}

useCatalogue(null);

/** The colour domain a signal's bounds fix ([min, max] when both are given, e.g. a rate), else null. */
export function signalRange(sig) {
  return sig && Number.isFinite(sig.min) && Number.isFinite(sig.max) ? [sig.min, sig.max] : null;
}
