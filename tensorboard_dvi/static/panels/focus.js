// The focused sample: the one sample selected (a click on the map, or a search with one hit).
// Shared by the neighbours and history panels, which follow it.

/** Row index of the single selected sample, or -1 when none or several are selected. */
export function focusedIndex(binding) {
  const sel = binding.selectionIndices();
  return sel.length === 1 ? sel[0] : -1;
}
