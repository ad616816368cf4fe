"""Names shared by the writer, the engine and the plugin.

Every side imports this module instead of importing each other, so the on-disk
format has exactly one definition of its names. Import-light: stdlib only.
"""

PLUGIN_NAME = "dvi"
TAB_NAME = "DVI"

#: Version of the on-disk format written under ``<run>/plugins/dvi/``.
#: Readers refuse newer major versions with a clear error (see docs/FORMAT.md).
FORMAT_VERSION = 1

#: Folder of a run that holds everything this plugin writes.
PLUGIN_DIR = ("plugins", PLUGIN_NAME)

STATIC_DIR = "static"
EPOCHS_DIR = "epochs"
EPOCH_DIR_FORMAT = "epoch-{:06d}"
EPOCH_DIR_PREFIX = "epoch-"
#: Temporary and trash folders start with a dot: readers skip them.
TEMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"

# static/ (written once per run)
META_FILE = "meta.json"
IDS_FILE = "ids.npy"
LABELS_FILE = "labels.npy"
SPLIT_FILE = "split.npy"
NOISY_FILE = "noisy.npy"
THUMBNAILS_FILE = "thumbnails.npy"
TEXTS_FILE = "texts.json"  # optional: one string per sample
FEATURE_NAMES_FILE = "feature_names.json"  # optional: tabular column names [F]
FEATURES_FILE = "features.npy"  # optional: float32 [N, F] tabular input values
METADATA_FILE = "metadata.json"  # optional: {"columns": {name: [str|number|null] * N}}

#: meta.json "border_space": where border points were mixed.
BORDER_SPACE_INPUT = "input"
BORDER_SPACE_EMBEDDING_PREFIX = "embedding:"
BORDER_SPACE_REPRESENTATION = "representation"

# epochs/epoch-NNNNNN/ (one per logged epoch)
EPOCH_FILE = "epoch.json"
REPRESENTATIONS_FILE = "representations.npy"
LOGITS_FILE = "logits.npy"
PREDICTIONS_FILE = "predictions.npy"
BORDER_FILE = "border.npy"
HEAD_SPEC_FILE = "head.json"
HEAD_WEIGHTS_FILE = "head.npz"

#: Split codes in static/split.npy.
SPLIT_TRAIN = 0
SPLIT_TEST = 1


def epoch_dir_name(epoch: int) -> str:
    return EPOCH_DIR_FORMAT.format(int(epoch))


def parse_epoch_dir_name(name: str):
    """The epoch number of an epoch folder name, or None for anything else."""
    if not name.startswith(EPOCH_DIR_PREFIX):
        return None
    digits = name[len(EPOCH_DIR_PREFIX):]
    if not digits.isdigit() or not digits.isascii():
        return None
    return int(digits)
