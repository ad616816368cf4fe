"""The catalogue the tab is built from: flag bits, palette, dynamics signals and queries.

Defined once here and served by ``GET catalogue`` (docs/HTTP_API.md), so the tab
keeps no copies: the engine's query functions (engine/dynamics.py) take their
defaults from :data:`QUERIES`, the projection flags come from
:mod:`tensorboard_dvi.scoring`, the palette from :mod:`tensorboard_dvi.engine.palette`.
Definitions of the signals: docs/DYNAMICS.md. Import-light: stdlib only.
"""

from __future__ import annotations

from .engine.palette import PALETTE
from .scoring import FLAGS, NEAR_BOUNDARY_MARGIN

_NB = f"{NEAR_BOUNDARY_MARGIN:g}"


def _signal(name, label, help_, kind, lo=None, hi=None):
    out = {"name": name, "label": label, "help": help_, "kind": kind}
    if lo is not None:
        out["min"] = lo
    if hi is not None:
        out["max"] = hi
    return out


#: Per-sample signals of ``GET dynamics`` in the order they are served. ``kind``: "float",
#: "count" (uint16) or "flag" (uint8 0/1); ``min``/``max`` where the value is bounded.
#: ``final_prediction`` (a class index, int16) is served too but is not a scale to colour by.
SIGNALS = [
    _signal("conf_mean", "Confidence (mean)",
            "Mean over epochs of the softmax probability of the given label (cartography confidence).",
            "float", 0, 1),
    _signal("conf_std", "Variability",
            "Standard deviation over epochs of that probability (cartography variability).", "float", 0),
    _signal("correct_rate", "Correct-epoch rate",
            "Fraction of epochs in which the prediction equals the given label.", "float", 0, 1),
    _signal("forgetting", "Forgetting events",
            "Epochs where a sample predicted correctly becomes wrong at the next epoch.", "count", 0),
    _signal("flips", "Prediction flips",
            "Epochs where the predicted class differs from the previous epoch's.", "count", 0),
    _signal("boundary_crossings", "Boundary crossings",
            "Times the sample crossed the boundary of its labelled class: correct→wrong plus "
            "wrong→correct transitions.", "count", 0),
    _signal("near_boundary_epochs", "Epochs close to a boundary",
            f"Epochs with min-max normalised top-1 − top-2 logit below {_NB}.", "count", 0),
    _signal("final_near_boundary", "Close to a boundary at the last epoch",
            f"1 when the last epoch's normalised margin is below {_NB}.", "flag", 0, 1),
    _signal("distance_travelled", "Distance travelled (2-D)",
            "Sum of the 2-D step lengths between consecutive fitted epochs on the map (NaN: no map).",
            "float", 0),
    _signal("loss_mean", "Loss (mean)", "Mean over epochs of the cross-entropy of the given label.", "float", 0),
    _signal("margin_mean", "Margin (AUM)",
            "Mean over epochs of logit[label] − max other logit (area under the margin).", "float"),
    _signal("final_correct", "Correct at the last epoch",
            "1 when the prediction equals the given label at the last epoch.", "flag", 0, 1),
    _signal("final_loss", "Loss (last epoch)", "Cross-entropy of the given label at the last epoch.", "float", 0),
    _signal("mislabel_score", "Mislabel score",
            "How likely the given label is wrong, in [0, 1]: ½(1 − correct-epoch rate) + "
            "½(1 − geometric-mean probability of the label); see docs/DYNAMICS.md.", "float", 0, 1),
]

#: name -> help of every array of ``GET dynamics`` and every export column, in the order served.
SERVED_SIGNALS = {s["name"]: s["help"] for s in SIGNALS}
SERVED_SIGNALS = dict(list(SERVED_SIGNALS.items())[:12] + [("final_prediction", "Predicted class at the last epoch.")]
                      + list(SERVED_SIGNALS.items())[12:])

_SPLIT = {"name": "split", "type": "choice", "default": "all", "choices": ["all", "train", "test"],
          "help": "restrict the candidates to the train or test split"}

#: Ready-made queries of ``GET dynamics_query``. Every query also takes ``split``.
#: ``one_of`` (optional): parameters of which at most one may be given.
QUERIES = [
    {"name": "likely_mislabelled", "label": "Likely mislabelled",
     "help": "Highest mislabel score first.", "one_of": ["n", "fraction", "threshold"],
     "params": [{"name": "n", "type": "int", "default": 100, "min": 1,
                 "help": "top n by mislabel_score"},
                {"name": "fraction", "type": "float", "default": None, "min": 0, "max": 1,
                 "help": "top fraction of the candidates"},
                {"name": "threshold", "type": "float", "default": None, "min": 0, "max": 1,
                 "help": "mislabel_score ≥ threshold"}, _SPLIT]},
    {"name": "crossed_boundary", "label": "Crossed the boundary ≥ k times",
     "help": "Boundary crossings (correct ↔ wrong) of at least k, in row order.",
     "params": [{"name": "k", "type": "int", "default": 1, "min": 1,
                 "help": "at least k crossings of the labelled class's boundary"}, _SPLIT]},
    {"name": "largest_movers", "label": "Largest movers on the map",
     "help": "The n samples that travelled the longest 2-D distance, largest first (needs fitted maps).",
     "params": [{"name": "n", "type": "int", "default": 100, "min": 1,
                 "help": "how many, largest distance_travelled first"}, _SPLIT]},
    {"name": "stuck_near_boundary", "label": "Stuck close to a boundary",
     "help": "Near the boundary in at least this fraction of epochs, and at the last one.",
     "params": [{"name": "fraction", "type": "float", "default": 0.5, "min": 0, "max": 1,
                 "help": "near the boundary in at least this fraction of epochs, including the last"},
                _SPLIT]},
    {"name": "still_misclassified", "label": "Still misclassified at the last epoch",
     "help": "Wrong at the last logged epoch, in row order.", "params": [_SPLIT]},
]

QUERY_BY_NAME = {q["name"]: q for q in QUERIES}


def query_params(query: str) -> dict:
    """{parameter name: spec} of one query (``split`` included)."""
    return {p["name"]: p for p in QUERY_BY_NAME[query]["params"]}


def default(query: str, param: str):
    """The default of a query parameter (what the engine uses when it is not given)."""
    return query_params(query)[param]["default"]


def catalogue() -> dict:
    """The body of ``GET catalogue``."""
    return {"flags": dict(FLAGS), "near_boundary_margin": NEAR_BOUNDARY_MARGIN, "palette": list(PALETTE),
            "signals": SIGNALS, "queries": QUERIES}
