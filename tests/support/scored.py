"""Random scored pairs with known positives, shared by the statistics tests."""

from __future__ import annotations

import numpy as np

from evaluation.stats.metrics import ScoredPairs


def random_case(
    seed: int, n_images: int = 30, n_labels: int = 4, floor: float = 0.0
) -> tuple[ScoredPairs, np.ndarray, np.ndarray]:
    """Pairs with ties in confidence, positives never returned, a label without positives."""
    rng = np.random.default_rng(seed)
    truth = rng.random((n_images, n_labels)) < np.linspace(0.5, 0.0, n_labels)
    returned = rng.random((n_images, n_labels)) < np.where(truth, 0.8, 0.5)
    confidence = np.round(np.clip(rng.normal(np.where(truth, 70, 50), 15), 0, 100) / 5) * 5
    returned &= confidence >= floor
    image_idx, label_idx = np.nonzero(returned)
    positive_image, positive_label = np.nonzero(truth)
    pairs = pairs_of(truth, image_idx, label_idx, confidence[image_idx, label_idx], floor=floor)
    return pairs, positive_image, positive_label


def pairs_of(
    truth: np.ndarray,
    image_idx: np.ndarray,
    label_idx: np.ndarray,
    confidence: np.ndarray,
    *,
    floor: float = 0.0,
    labels: tuple[str, ...] | None = None,
) -> ScoredPairs:
    """ScoredPairs from an images x labels truth matrix and the returned pairs (np.nonzero order) with their
    confidences; labels L0, L1, ... unless named."""
    n_images, n_labels = truth.shape
    return ScoredPairs(
        labels=labels or tuple(f"L{i}" for i in range(n_labels)),
        n_images=n_images,
        support=truth.sum(axis=0),
        label_idx=label_idx,
        image_idx=image_idx,
        confidence=confidence,
        is_true=truth[image_idx, label_idx],
        floor=floor,
    )


def simulated_run(
    n_images: int,
    seed: int,
    prevalence: tuple[float, ...],
    *,
    half_points: bool = True,
    never_returned: int | None = None,
) -> tuple[ScoredPairs, np.ndarray, np.ndarray]:
    """A simulated run: positives score around 75, others around 55 (floor 50); 90% of positives and 30%
    of the others returned. Confidences on a 0.5 grid (ties) or to one decimal; the label at
    `never_returned` (an index) is never returned, its positives all missed."""
    rng = np.random.default_rng(seed)
    share = np.asarray(prevalence)
    truth = rng.random((n_images, share.size)) < share
    returned = rng.random(truth.shape) < np.where(truth, 0.9, 0.3)
    if never_returned is not None:
        returned[:, never_returned] = False
    spread = np.clip(rng.normal(np.where(truth, 75, 55), 12), 50, 100)
    confidence = (spread * 2).round() / 2 if half_points else spread.round(1)
    image_idx, label_idx = np.nonzero(returned)
    positive_image, positive_label = np.nonzero(truth)
    pairs = pairs_of(truth, image_idx, label_idx, confidence[image_idx, label_idx], floor=50.0)
    return pairs, positive_image, positive_label
