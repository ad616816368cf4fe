// The panel registry: which panels the tab builds, in which slot, in which order. A panel is a
// class constructed with the tab's context {api, store, session, map, binding, banners, panels,
// mapWrap, mapWarning, root}; it exposes `el` (mounted in its slot) and `render()`, and keeps itself
// current by subscribing to the session's events, the binding's events and the store.
// Slots: "left", "top" (beside the epoch bar), "status" (under it), "map" (over the map), "right",
// "root" (mounts itself, e.g. "Compare runs"). To add a panel: registerPanel({name, slot, Panel, after?}).

import { RunPanel } from "./run.js";
import { ColourPanel } from "./colour.js";
import { DynamicsPanel } from "./dynamics.js";
import { SearchPanel } from "./search.js";
import { FiltersPanel } from "./filters.js";
import { LegendPanel } from "./legend.js";
import { PlaybackPanel } from "./playback.js";
import { ToolsPanel } from "./tools.js";
import { ProgressPanel } from "./progress.js";
import { TooltipPanel } from "./tooltip.js";
import { FaithfulnessPanel } from "./faithfulness.js";
import { SelectionPanel } from "./selection.js";
import { ExportPanel } from "./export.js";
import { CompareView } from "../compare.js";
import { MetadataPanel } from "./metadata.js";
import { NeighboursPanel } from "./neighbours.js";
import { HistoryPanel } from "./history.js";
import { TagsPanel } from "./tags.js";
import { SharePanel } from "./share.js";
import { ZoomPanel } from "./zoom.js";

export const PANELS = [
  { name: "run", slot: "left", Panel: RunPanel },
  { name: "colour", slot: "left", Panel: ColourPanel },
  { name: "dynamics", slot: "left", Panel: DynamicsPanel },
  { name: "search", slot: "left", Panel: SearchPanel },
  { name: "filters", slot: "left", Panel: FiltersPanel },
  { name: "legend", slot: "left", Panel: LegendPanel },
  { name: "playback", slot: "top", Panel: PlaybackPanel },
  { name: "tools", slot: "top", Panel: ToolsPanel },
  { name: "progress", slot: "status", Panel: ProgressPanel },
  { name: "tooltip", slot: "map", Panel: TooltipPanel },
  { name: "faithfulness", slot: "right", Panel: FaithfulnessPanel },
  { name: "selection", slot: "right", Panel: SelectionPanel },
  { name: "export", slot: "right", Panel: ExportPanel },
  { name: "compare", slot: "root", Panel: CompareView },
];

// Sample extras, neighbours, history, tags, link and theme (issue 15 "What people expect").
registerPanel({ name: "metadata", slot: "left", Panel: MetadataPanel, after: "search" });
registerPanel({ name: "history", slot: "right", Panel: HistoryPanel, after: "selection" });
registerPanel({ name: "neighbours", slot: "right", Panel: NeighboursPanel, after: "history" });
registerPanel({ name: "tags", slot: "right", Panel: TagsPanel, after: "neighbours" });
registerPanel({ name: "share", slot: "top", Panel: SharePanel, after: "tools" });
registerPanel({ name: "zoom", slot: "map", Panel: ZoomPanel, after: "progress" });  // under the tooltip

/** Adds a panel (before the tab is built), after the panel named `after` or at the end. */
export function registerPanel({ name, slot, Panel, after = null }) {
  if (PANELS.some((p) => p.name === name)) throw new Error(`a panel named "${name}" is already registered`);
  const i = after ? PANELS.findIndex((p) => p.name === after) : -1;
  PANELS.splice(i >= 0 ? i + 1 : PANELS.length, 0, { name, slot, Panel });
}
