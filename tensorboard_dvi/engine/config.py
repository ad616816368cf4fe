"""Engine settings (``EngineConfig``) and the engine's typed error.

One place for every knob that changes results; ``config_hash`` keys the cache,
so changing a default refits instead of serving stale maps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Optional, Tuple


class EngineError(Exception):
    """Input the engine refuses to visualise; the message says why in plain words."""


@dataclass
class EngineConfig:
    """Settings of the engine. Defaults follow the reference unless noted."""
    n_neighbors: int = 15
    boundary_neighbors: int = 15
    prune_n_epochs: float = 15.0
    min_border: int = 5                 # fewer border points: no boundary complex (warned)
    negative_sample_rate: int = 5
    #: the reference uses 4 x 256 (TF); 3 x 64 trains ~6x faster per edge on CPU and
    #: reached better NN/PPR within the same time budget (docs/ENGINE_RESULTS.md)
    hidden: Tuple[int, ...] = (64, 64, 64)
    #: decoder widths (2 -> ... -> D); None: the encoder's, reversed
    decoder_hidden: Optional[Tuple[int, ...]] = None
    # -- phase 1, the encoder: UMAP cross-entropy on sampled edges (+ temporal term)
    lr: float = 0.01
    weight_decay: float = 1e-5
    batch_size: int = 1000
    #: trainer epochs of the encoder phase (cosine learning-rate decay over them); early stop
    #: when the mean loss improves by less than ``min_delta`` for ``patience`` epochs
    max_trainer_epochs: int = 2
    patience: int = 3
    min_delta: float = 0.01
    #: edge samples per trainer epoch (drawn with replacement, prob ∝ weight):
    #: ``edges_per_node`` x number of nodes unless ``edges_per_trainer_epoch`` is set;
    #: warm-started epochs up to ``large_nodes`` nodes use ``warm_edges_factor`` times as many, a run's first
    #: epoch there ``cold_edges_factor`` times (above: ``large_warm_edges_factor``, ``large_cold_edges_factor``).
    #: A warm epoch's drawn positions come from the refinement, which starts at the previous map; its encoder
    #: starts at the previous epoch's weights and serves the next epoch's anchors and new points' first guess.
    #: 0.2 (was 0.5; seventeenth pass): on the seven quality subjects at seeds 0/1 every figure within ±0.015 of
    #: 0.5's (NN@15 and boundary NN x UMAP, tr, temporal r, PPR minima) but text_docs seed 1's PPR (train 0.942 ->
    #: 0.953, test 0.934 -> 0.950), the warm encoder 2.8 -> 1.1 s at 5k x 512 on a CPU without bf16
    #: (docs/QUALITY_RESULTS.md, "Seventeenth pass")
    edges_per_node: float = 30.0
    edges_per_trainer_epoch: Optional[int] = None
    warm_edges_factor: float = 0.2
    cold_edges_factor: float = 1.0
    #: umap-learn's size rule (500 optimisation epochs up to 10k samples, 200 above) for the
    #: parametric phases on complexes of more than ``large_nodes`` nodes (the refinement's rule,
    #: ``refine_steps_small``, switches there too). ``large_decoder_steps``: at most this many decoder
    #: steps there (None: no cap); it acts from ~20k nodes, where 20 passes exceed 800 steps: 800 at 50k
    #: (8 passes instead of 20, 2,000 steps) kept PPR, NN@15 and boundary NN within ±0.005/±0.02 of the
    #: uncapped fit on a 45k + 5k tabular MLP run (400 at 20k did not: PPR −0.01 to −0.02).
    #: ``large_edges_factor``: the encoder's edge samples per node x this there; 0.4 (umap-learn's
    #: 200/500) saved ~60 % of the encoder but cost boundary NN 3-7 % at every epoch of a 18k + 2k
    #: tabular MLP run (seeds 0 and 1), where ours is only ~1.0-1.1x UMAP's, so it stays off.
    #: (docs/QUALITY_RESULTS.md, "Speed, seventh pass")
    large_nodes: int = 10_000
    large_edges_factor: float = 1.0
    #: warm-started epochs only, on complexes of more than ``large_nodes`` nodes: the encoder's edge
    #: samples x this (instead of ``warm_edges_factor``; 0.125 = the 0.5 x 0.25 of the passes below, which
    #: multiplied a warm factor of 0.5): the encoder starts at the previous epoch's
    #: weights there and the drawn positions come from the refinement, which starts at the previous map.
    #: x 0.4 (umap-learn's 200/500): the 18k + 2k tabular run's NN@15, boundary NN and PPR within ±0.01 of
    #: 1.0 at seeds 0 and 1 (tr −0.004/−0.008), the warm encoder of bench_speed's 20k x 512 −60 %
    #: (docs/QUALITY_RESULTS.md, "Speed, eighth pass"). x 0.25 (tenth pass, warm epoch): on the real 512-d CNN run
    #: (bench_speed_real's mnist_speed20k, 10k and 18k + border, 4 epochs) every per-epoch NN@15, test NN@15,
    #: boundary NN, PPR and trustworthiness within ±0.03 / ±0.003 of 0.4's, run tr/temporal r within ±0.004;
    #: the warm encoder −0.25 s at 10k, −0.4 s at 18k (CPU, loaded; docs/QUALITY_RESULTS.md, "Tenth pass, warm epoch")
    #: (the eighth pass had measured 0.25 on the 18k + 2k tabular run too: NN@15, boundary NN and PPR as 0.4's)
    large_warm_edges_factor: float = 0.125
    large_decoder_steps: Optional[int] = 800
    #: a run's first epoch (no previous epoch: the encoder starts from random weights and the refinement
    #: at its output) on complexes of more than ``large_nodes`` nodes: the encoder's edge samples x
    #: ``large_cold_edges_factor`` (instead of ``cold_edges_factor``) and ``large_cold_refine_steps`` refinement
    #: steps instead of ``refine_steps``
    #: (None: ``refine_steps``). A refinement step costs ~1/40 of the encoder's per edge (no network), and there
    #: the 200 steps, not the encoder, bound the first map's neighbours: mnist_speed20k 18k + 2k, epoch 1, seeds
    #: 0/1, NN@15 4.19/4.18 (200 steps, all edges) -> 4.31/4.32 (300 steps, half the edges; 4.37/4.40 with all),
    #: the first epoch's train stage -0.7 s of CPU at 18k, -0.4 s at 10k
    #: (docs/QUALITY_RESULTS.md, "Tenth pass, first epoch")
    large_cold_edges_factor: float = 0.5
    large_cold_refine_steps: Optional[int] = 300
    #: the training phases' D-wide products (the encoder's first layer, the decoder's reconstruction
    #: gradient) in bfloat16 with float32 weights and accumulation, for representations of >= 256 dims
    #: on CPUs with native bf16 (AVX512-BF16/AMX; engine/precision.py); elsewhere, and on GPUs, float32.
    #: 20k x 512 first epoch's encoder ~-45 %; quality moved about as much as by a rounding-level
    #: perturbation of the float32 fit (docs/QUALITY_RESULTS.md, "Speed, ninth pass")
    bf16_products: bool = True
    #: ... and the encoder's hidden layers' products too (precision.mlp_bf16; its 2-D output layer stays float32):
    #: 3.2 -> 2.5 ms per encoder step at 2,000 rows x 512; quality as a rounding-level perturbation moves it
    #: (docs/QUALITY_RESULTS.md, "Tenth pass, first epoch")
    bf16_hidden: bool = True
    #: the encoder's first and the decoder's last layer train in the span of this many principal directions of
    #: the epoch's nodes (fewer where they and the head's rows would exceed D/2) plus the head's rows, for
    #: representations of at least 256 dims (subspace.py); None: D-wide
    subspace_dim: Optional[int] = 128
    #: share of the sampling weight given to the boundary complex (None: raw weights, ~60 %
    #: on the demo, which starves the spatial neighbours; docs/ENGINE_RESULTS.md)
    boundary_share: Optional[float] = 0.3
    #: ... in warm-started epochs (None: ``boundary_share``)
    warm_boundary_share: Optional[float] = None
    #: the boundary complex includes each border point's own nearest border points (False: the training
    #: rows' memberships only, the direction boundary NN@15 reads)
    boundary_border_rows: bool = True
    #: after the refinement and before the decoder, the border points alone are moved (the training rows fixed)
    #: so that each training row's high-D nearest border points are its nearest in 2-D; the decoder then learns
    #: them there, so the drawn decision regions follow
    #: (border_place.py; 0 steps: off): ``border_place_steps`` Adam steps at ``border_place_lr`` x the layout's
    #: spread, kernel temperature ``border_place_temp``, at most ``border_place_elements`` (training rows x
    #: border points) per step. 50 (eleventh session; was off): boundary NN@15 up on all seven quality subjects at
    #: seeds 0/1 (text_docs 1.06x -> 1.13x UMAP: met; text_tokens 0.97-0.98x -> 1.05-1.06x, tabular_mlp
    #: 1.03-1.04x -> 1.08x; resnet_colour 1.15-1.17x -> 1.23-1.24x) when placed after the decoder, every other
    #: figure identical; before it, as now, see docs/QUALITY_RESULTS.md, "Eleventh pass" (the final guard);
    #: ~0.15 s per epoch at 2,500 x 250 (docs/QUALITY_RESULTS.md, "Eleventh pass, boundary neighbours")
    border_place_steps: int = 50
    #: ... where a step reads a subset of the training rows (more than ``border_place_elements``):
    #: 18k x 1,800 real CNN rows, 50 such steps fell below the start at one epoch of three, 100 with the
    #: rate's decay came within 0.1 boundary NN of all rows' (~0.5 s instead of ~14 s, loaded machine)
    border_place_sampled_steps: int = 100
    #: ... also on complexes of more than ``large_nodes`` nodes. Off: there the placement costs ~0.4-0.5 s per epoch
    #: (10k x 1,000 and 18k x 1,800, 100 subsampled steps, loaded machine), most of the warm epoch's margin to
    #: umap-learn's time (docs/QUALITY_RESULTS.md, "Eleventh pass, boundary neighbours")
    border_place_large: bool = False
    border_place_temp: float = 0.05
    #: the kernel's exponent ν in (1 + d²/(t·ν·s²))^−ν (1: t-SNE's; 1.5-2 helped text_tokens, cost tabular_mlp)
    border_place_dof: float = 1.0
    #: more (ν, t) kernels placed from the same start; the placement that keeps most of the training rows' high-D
    #: nearest border points among their nearest in 2-D is used (border_place.place_in_layout). Offline, ν 1.5 / 2
    #: won on text_tokens at most epochs, ν 1 on tabular_mlp at every epoch (docs/QUALITY_RESULTS.md, "Twelfth
    #: pass"). Each kernel is one placement (~0.15 s at 2,500 x 250, ~0.3 s at 5,000 x 500: the 5k warm epoch
    #: 0.74x -> 0.87x umap-learn's, idle). Off since the thirteenth session: the moves below (``border_moves_*``)
    #: gain more for less time; ((1.5, 0.1), (2.0, 0.05)) with them: text_tokens 1.151x -> 1.183x, the others
    #: within 0.02x (docs/QUALITY_RESULTS.md, "Thirteenth pass")
    border_place_kernels: Tuple[Tuple[float, float], ...] = ()
    #: < 1: each kernel is tried for this share of the steps and the winner placed again with all of them (0.2: ~1.6
    #: placements instead of 3; text_tokens boundary NN 1.113 / 1.112x -> 1.110 / 1.106x UMAP, seeds 0 / 1)
    border_place_trial: float = 1.0
    border_place_lr: float = 0.2
    border_place_elements: Optional[int] = 1 << 20
    #: then each border point is moved, one at a time, to the candidate spot among the rows that list it where the
    #: exact count (boundary NN@k on the training rows) grows most (border_moves.py): ``border_moves_sweeps`` passes
    #: over the points (0: off), ``border_moves_candidates`` rows drawn per point; only where rows x border points
    #: fit ``border_moves_elements`` (a table of that size is held)
    border_moves_sweeps: int = 1
    border_moves_candidates: int = 24
    #: ... the spots tried are midpoints of rows predicted as each of the border point's two classes (the head
    #: on the representations), so it stays where the decoder draws their boundary (False: next to single rows)
    border_moves_classes: bool = True
    border_moves_elements: int = 1 << 24
    #: ... visiting at most this many rows x border points per sweep (the least held points first): a visit reads
    #: every row, so this bounds the moves' time on the largest layouts the placement runs on (None: all points)
    border_moves_budget: Optional[int] = 1 << 22
    #: after the refinement, ``rank_steps`` steps of its objective, free of anchors, plus per training row the
    #: Pearson correlation of its 2-D distances to its earlier epochs' drawn positions with the ranks of its high-D
    #: ones (x ``rank_weight``) and ``rank_npr`` x that of its 2-D steps with its NPR (rank_history.py), over the
    #: chain's last ``rank_history`` epochs, at ``rank_lr`` x the layout's spread (0 steps: off)
    rank_steps: int = 400
    rank_weight: float = 6.0
    #: 0.45 (was 0.3; nineteenth pass): resnet_colour's temporal r −0.336 / −0.293 -> −0.366 / −0.354 at seeds 0 / 1
    #: (its tr 0.646 / 0.627 -> 0.635 / 0.603, NN@15 0.985 -> 0.985 / 0.971x umap-learn's); the held-out-shaped
    #: CNNs' r −0.38..−0.39 -> −0.40..−0.41 at tr −0.002..0; runs whose step-NPR term reaches its goal unchanged
    #: (docs/QUALITY_RESULTS.md, "Nineteenth pass")
    rank_npr: float = 0.45
    rank_history: int = 8
    rank_lr: float = 0.05
    #: each row's rank gradient mixed with its high-D neighbours' (``g <- (1 - s) g + s P g``,
    #: ``rank_smooth_iters`` times; P the row-normalised kNN graph): groups move together and keep
    #: their neighbours (0: off)
    rank_smooth: float = 0.5
    rank_smooth_iters: int = 2
    #: ... at most this many steps on complexes of more than ``large_nodes`` nodes (a step costs as many edges as a
    #: refinement step; there the anchored refinement's 200 become 100 + these 100: the same cost); None: always
    large_rank_steps: Optional[int] = 100
    #: ... and the anchored refinement before them runs this share of its steps (their steps replace some of its
    #: own; a smaller share, or fewer rank steps, cost tabular_mlp's neighbours: docs/QUALITY_RESULTS.md)
    rank_refine_share: float = 0.5
    #: ... each rank term (one epoch's list) stops pushing once its mean correlation over the rows reaches this,
    #: fading over the 0.1 below it (a map already in order keeps its neighbours; 1: never stops)
    rank_goal: float = 0.85
    #: ... and the step-NPR term once its mean correlation is this low, fading over the 0.1 above it (-1: never)
    rank_npr_goal: float = -0.45
    #: ... each row's steps scaled by its mobility as in the refinement (a row whose neighbours held stays)
    rank_mobility: bool = True
    #: ... the rank gradient (with its sharing) computed every this many steps and reused in between: 2 took the
    #: rank steps of a 5k warm epoch from ~3.0 to ~2.4 s of CPU with every figure of the quality subjects within
    #: ±0.005 (PPR minima ±0.02); 4 took text_docs seed 1's PPR train min to 0.942 (docs/QUALITY_RESULTS.md,
    #: "Eighteenth pass")
    rank_grad_every: int = 2
    #: ... each rank step draws this share of a refinement step's edges (the rank terms' unit follows it; 0.5
    #: cost NN@15 0.005-0.016x umap-learn's on every subject, "Eighteenth pass")
    rank_edges_factor: float = 1.0
    # -- phase 2, per-sample refinement of the layout (engine/refine.py; 0 steps: positions
    #    are the encoder's output, as in the DVI paper)
    refine_steps: int = 200
    #: steps when the complex has at most 10,000 nodes (umap-learn's own rule: 500 optimisation
    #: epochs below 10k samples, 200 above); None: ``refine_steps`` always
    refine_steps_small: Optional[int] = 500
    #: edges drawn per refinement step: ``refine_edges_per_node`` x number of nodes (about 50k
    #: on the demo's 11k nodes) unless ``refine_edges`` is set
    refine_edges_per_node: float = 4.5
    refine_edges: Optional[int] = None
    #: the refinement's learning rate. 0.15 (was 0.05; tenth session), with ``move_stretch`` 0.75 and its cap 0.4:
    #: in a warm-started epoch each sample's steps are scaled by its mobility, so 500 steps at 0.05 stopped short of
    #: the balance of its neighbours and its anchor (NN@15 lagged a model that kept separating its classes); the larger
    #: stretch gives back the temporal r the larger rate costs. Seeds 0/1, seven quality subjects: NN@15 up on every
    #: one (text_docs, real text, 0.92x -> 0.96x UMAP: now met; tabular_mlp 0.86x -> 0.92x; mnist_cnn512 1.03x ->
    #: 1.07x), temporal r equal or stronger on the held-out-shaped subjects (mnist_cnn512 -0.320/-0.325 ->
    #: -0.324/-0.325), tr -0.01 to -0.03 on resnet_colour, text_tokens and tabular_mlp (docs/QUALITY_RESULTS.md,
    #: "Tenth pass"). 0.2 with ``anchor_strength`` 1 (eleventh session): tabular_mlp NN@15 0.942/0.941x -> 0.955/0.954x
    #: (met), boundary NN +0.01-0.03x on the text and tabular subjects, tr and temporal r within 0.01 but
    #: mnist_hard512's r (-0.360 -> -0.349) (docs/QUALITY_RESULTS.md, "Eleventh pass")
    refine_lr: float = 0.2
    #: the refinement's learning rate where it starts at the encoder's output (a run's first epoch, or
    #: ``temporal=False``), where no anchor holds it (None: ``refine_lr``)
    cold_refine_lr: Optional[float] = None
    #: scale of the refinement's repulsive force (umap-learn's ``repulsion_strength``); more
    #: repulsion (like more negative samples, at no extra cost) spreads the layout. 2.5 (with the
    #: snapping and decoder settings below, which keep PPR): tr and temporal r up on every subject
    #: (mnist_cnn meets tr 0.71/0.72 at seeds 0/1), boundary NN down (docs/QUALITY_RESULTS.md, sixth pass)
    refine_repulsion: float = 2.5
    #: None: constant; else the repulsion goes linearly from ``refine_repulsion`` to this over the steps
    refine_repulsion_end: Optional[float] = None
    #: warm-started epochs (positions start at the previous map) run ``refine_steps`` x
    #: clip(1 − mean NPR, ``warm_refine_min``, 1) (only the share of the graph that changed
    #: re-optimised). Default 1.0 = always the full steps: 0.25 halved the refinement time but
    #: cut mnist_cnn's tr 0.69 → 0.62, 0.6 → 0.65 (docs/QUALITY_RESULTS.md, speed)
    warm_refine_min: float = 1.0
    #: temporal continuity of the refined layout (warm-started epochs only): each training
    #: sample is pulled towards its previous drawn position with weight
    #: ``anchor_strength * NPR_i ** anchor_npr_power`` (NPR: high-D neighbours it kept), so
    #: samples whose neighbourhood holds stay put and those whose neighbourhood changed move.
    #: 1 (was 2): since ``refine_lr`` 0.15 a sample reaches the balance of its neighbours' pull and the
    #: anchor's, so the anchor sets where the layout lags a model that keeps separating its classes:
    #: NN@15 +0.006 to +0.034x UMAP on all seven quality subjects at seeds 0/1 (text_docs 0.96 -> 0.99x,
    #: another training run of it 0.925 -> 0.966x, tabular_mlp 0.915 -> 0.942x), boundary NN up to
    #: +0.035x, temporal r on the 512-d image subjects as strong or stronger; tr -0.01 to -0.03
    #: (text_docs 0.734 -> 0.709 / 0.752 -> 0.729, the thinnest margin). 0.5 cost text_docs' tr (0.694)
    #: and resnet_colour's r; docs/QUALITY_RESULTS.md, "Eleventh pass"
    anchor_strength: float = 1.0
    anchor_npr_power: float = 1.0
    #: the anchor is the previous position moved on by this share of the sample's last 2-D step
    #: (prev + m · (prev − prev of prev)): trajectories keep their direction instead of zigzagging
    anchor_momentum: float = 0.5
    #: the move of the start/anchor away from the previous position (follow + momentum) is
    #: scaled by the sample's mobility too (``mobility_power``)
    mobility_scales_init: bool = True
    #: the anchor follows the previous epoch's map: (1 − f) · previous position + f · (previous
    #: encoder applied to the new representation + previous offset), so a sample moves as the
    #: previous map moves it (one consistent map over epochs) instead of staying put
    anchor_follow: float = 1.0
    #: the map's centre follows the mean of the representations: each warm-started epoch's map is
    #: translated so its centre's path reproduces the centroids' path at ``drift`` x the first
    #: epoch's 2-D / high-D spread (drift.py; 0: off, the map stays in the previous epoch's frame).
    #: 0.35 (was 0.25, eighth pass): with move_stretch, tr ≥ 0.74 on both held-out-shaped subjects at
    #: seeds 0 and 1 (0.695 on mnist_cnn512 at 0.25), temporal r still ≤ −0.30 there (docs/QUALITY_RESULTS.md)
    drift: float = 0.35
    #: warm-started epochs: each training sample's refinement steps are scaled by its mobility
    #: clip(1 − NPR_i, 0.05, 1) ** p, at least ``mobility_min`` (power 0: off), so samples whose neighbourhood held move little
    mobility_power: float = 1.0
    mobility_min: float = 0.05
    #: warm-started epochs: each training sample's move since the previous epoch is lengthened
    #: (never shortened) towards its mobility's share of the mean move, |v|^(1−p) · target^p
    #: (refine.stretch_moves; 0: off), so how far a sample moves follows how much its neighbourhood
    #: changed: temporal r mnist_cnn512 −0.295 → −0.319 (seed 0), −0.290 → −0.315 (seed 1), NN@15 −0.3 %
    #: (docs/QUALITY_RESULTS.md, eighth pass). 0.75 (was 0.5) with the cap 0.4 (was 0.25) and ``refine_lr`` 0.15
    #: (tenth pass): the larger rate alone weakened mnist_cnn512's temporal r to −0.305; with both, −0.324/−0.325
    move_stretch: float = 0.75
    #: ... by at most this share of the sample's distance to its 15th nearest training row (it stays
    #: among its neighbours: half the NN@15 cost of an uncapped stretch on text_tokens)
    move_stretch_cap: float = 0.4
    #: mobility from the map's own error too: a training sample whose 2-D neighbours at its
    #: previous drawn position share few of its current high-D neighbours (NP_i, against the mean
    #: over samples) may move by ``mobility_error`` · clip(1 − NP_i / mean NP, 0, 1) at least (0: off)
    mobility_error: float = 0.0
    #: warm-started epochs: after the anchored refinement, ``polish_steps`` more steps of the same
    #: objective with no anchor and no mobility, at ``polish_lr`` x ``refine_lr`` (decaying to 0):
    #: small local moves that restore neighbours the anchoring cost (0: off)
    polish_steps: int = 0
    polish_lr: float = 0.2
    #: start the refinement at the previous epoch's drawn positions (offsets = previous
    #: position − new encoder output) instead of the new encoder output + previous offsets
    init_from_previous: bool = True
    #: new points (test rows, Projection.transform): steps of UMAP's objective against the
    #: fixed training positions after the encoder + neighbours' offsets start (transform.py)
    transform_steps: int = 60
    transform_lr: float = 0.05
    #: samples whose decoded position the head predicts as another class are moved into their
    #: class's region, at most ``snap_max_move`` x the layout's spread (consistency.py; 0 steps: off)
    snap_steps: int = 40
    snap_max_move: float = 1.0
    #: pull of a snapped sample back to its place (``mu`` of consistency.snap_to_prediction): on a
    #: spread layout it, not ``snap_max_move``, bounds how far a sample moves
    snap_mu: float = 0.15
    #: a snapped sample stops at the first step where its class's logit leads every other by this much
    #: (None: all ``snap_steps`` steps, deep into the region): it crosses the boundary and keeps its 2-D
    #: neighbours. 0.05: tabular_mlp NN@15 +0.2, the snapped samples' mean move halved, PPR kept
    #: (docs/QUALITY_RESULTS.md, "Eighth pass, neighbours")
    snap_stop_margin: Optional[float] = 0.05
    #: a sample the snapping's descent left outside its class's region is moved to the nearest point of the
    #: region within this share of the layout's spread, found by a search on circles around it
    #: (consistency.reach_region; 0: off). The samples PPR lost were low-confidence rows drawn among another
    #: class (their region lay ~0.7 spreads away, across a plateau the descent cannot cross). 0.5: PPR train
    #: min from epoch 3 ≥ 0.963 on all six quality subjects at seeds 0 and 1 (mnist_hard512 0.946/0.940 →
    #: 0.968/0.963, tabular_mlp 0.936/0.938 → 0.982/0.984), every target met before still met; tr −0.00 to
    #: −0.01, temporal r weaker by ≤ 0.011 (1.0: PPR ≥ 0.984, twice the temporal cost; docs/QUALITY_RESULTS.md,
    #: "Ninth pass")
    snap_reach_move: float = 0.5
    # -- phase 3, the decoder: fitted to the refined positions (reconstruction + prediction
    #    term + temporal term), passes over the nodes
    decoder_epochs: int = 20
    decoder_batch: int = 500
    decoder_lr: float = 0.02
    #: at least this many decoder steps (passes are added on small runs: 20 passes of a
    #: 2.7k-node run are only ~110 steps, too few for the PPR targets). 600 saves 0.45 s per epoch
    #: at 5k-10k nodes but, with one random stream for every epoch (seed_per_epoch=False), gave a
    #: lower min PPR on all four quality subjects at seed 0 (tabular_mlp 0.908/0.890 vs
    #: 0.918/0.918, resnet_colour 0.952/0.940 vs 0.959/0.946): 800 stays (docs/QUALITY_RESULTS.md)
    decoder_min_steps: int = 800
    #: warm-started epochs (decoder starts at the previous epoch's) take this share of the steps.
    #: 0.5 (ninth session): PPR min from epoch 3 within −0.014 of 1.0's on six quality subjects at seeds
    #: 0/1 (lowest 0.960 train / 0.956 test; the snapping's search, ``snap_reach_move``, keeps it), every
    #: other figure within ±0.005; 0.45 s less per warm epoch at 10k rows (docs/QUALITY_RESULTS.md,
    #: "Ninth pass, speed"). Before that search, 0.5 cost PPR on tabular_mlp/resnet_colour, so it was 1.0
    warm_decoder_factor: float = 0.5
    lambda_umap: float = 1.0
    lambda_recon: float = 1.0
    lambda_temporal: float = 0.3
    #: "mean" (deviation from the spec's "sum"): ||θ − θ_prev||² averaged per weight.
    #: Summed over the ~50k weights it dominated the loss and the warm-started chain
    #: degraded epoch after epoch (docs/ENGINE_RESULTS.md); "sum" restores the spec.
    temporal_reduction: str = "mean"
    #: prediction-preserving term (addition to the spec; 0 switches it off): cross-entropy
    #: of the logged head on the decoded position against the head's softmax on x.
    #: Raises PPR (docs/ENGINE_RESULTS.md).
    lambda_pred: float = 0.3
    #: the prediction term's target: the head's softmax mixed with the one-hot of its argmax by this
    #: share (losses.prediction_targets; 0: the softmax alone)
    pred_target_sharpen: float = 0.0
    #: False = independent epochs (ablation): no warm start, no temporal term.
    temporal: bool = True
    background_resolution: int = 200
    seed: int = 0
    #: True: the training phases' random stream differs per epoch (seed · 100003 + epoch). False (default):
    #: every epoch draws the same random numbers (edges, negatives), so a sample whose neighbourhood held
    #: gets the same jitter again instead of a new one: less zig-zag between epochs (resnet_colour tr
    #: +0.03–0.05, NN@15 +0.01; docs/QUALITY_RESULTS.md)
    seed_per_epoch: bool = False
    #: torch CPU threads; 1 measured fastest on the shared 2-core machine (2 threads
    #: were 2-20x slower per batch under load). None: leave torch's setting.
    threads: Optional[int] = 1
    temporal_window: int = 20           # epochs back for temporal metrics
    temporal_sample: int = 2000         # samples used for tnn/tr
    trust_rows: Optional[int] = 2000    # rows that estimate trustworthiness (None: all)
    #: ... and at most this many high-D distances for it (rows x training rows; at least 500 rows): the
    #: estimate's spread over row draws is 0.0001 at 2,000 rows, 0.0002 at 1,000 and 0.0004 at 500 (20k x
    #: 512); 10M: 1,000 rows at 10k, 0.36 -> ~0.18 s there (docs/QUALITY_RESULTS.md, speed). None: no bound
    trust_distances: Optional[int] = 10_000_000
    #: recompute the run-level figures (run_metrics.json, every epoch an anchor) after a fit
    run_metrics: bool = True
    ppr_train_warn: float = 0.9
    ppr_test_warn: float = 0.85

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(d["hidden"])
        if d["decoder_hidden"] is not None:
            d["decoder_hidden"] = list(d["decoder_hidden"])
        return d

    def config_hash(self) -> str:
        """Hash of the settings that change results (not threads)."""
        d = self.to_dict()
        d.pop("threads", None)
        d.pop("run_metrics", None)
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

