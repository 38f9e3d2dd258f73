"""Segmentation metrics with void (255) ignored, and the masked training loss."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

VOID = 255


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """cm[t, p] = number of valid pixels of true class t predicted as p (void pixels skipped)."""
    t = np.asarray(y_true).ravel().astype(np.int64)
    p = np.asarray(y_pred).ravel().astype(np.int64)
    valid = t != VOID
    t, p = t[valid], p[valid]
    if t.size and (t.max() >= num_classes or t.min() < 0):
        raise ValueError(f"label {int(t.max())} outside 0..{num_classes - 1} (and not void {VOID})")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def scores(cm: np.ndarray) -> dict:
    """Pixel accuracy, per-class IoU (NaN where a class is absent from truth and prediction), mIoU over the rest."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
    total = cm.sum()
    return {
        "pixel_accuracy": float(tp.sum() / total) if total else float("nan"),
        "iou": [None if np.isnan(v) else float(v) for v in iou],
        "miou": float(np.nanmean(iou)) if np.any(union > 0) else float("nan"),
        "pixels": int(total),
    }


def masked_sparse_ce(y_true, logits):
    """Per-pixel softmax cross-entropy averaged over non-void pixels."""
    y = tf.cast(tf.reshape(y_true, tf.shape(logits)[:-1]), tf.int32)
    valid = tf.not_equal(y, VOID)
    y_safe = tf.where(valid, y, tf.zeros_like(y))
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y_safe, logits=logits)
    ce = tf.where(valid, ce, tf.zeros_like(ce))
    return tf.reduce_sum(ce) / tf.maximum(tf.reduce_sum(tf.cast(valid, ce.dtype)), 1.0)


class MaskedPixelAccuracy(tf.keras.metrics.Metric):
    def __init__(self, name="pixel_acc", **kw):
        super().__init__(name=name, **kw)
        self.correct = self.add_weight(name="correct", initializer="zeros", dtype=tf.float64)
        self.total = self.add_weight(name="total", initializer="zeros", dtype=tf.float64)

    def update_state(self, y_true, logits, sample_weight=None):
        y = tf.cast(tf.reshape(y_true, tf.shape(logits)[:-1]), tf.int32)
        valid = tf.not_equal(y, VOID)
        pred = tf.argmax(logits, axis=-1, output_type=tf.int32)
        self.correct.assign_add(tf.reduce_sum(tf.cast(valid & tf.equal(pred, y), tf.float64)))
        self.total.assign_add(tf.reduce_sum(tf.cast(valid, tf.float64)))

    def result(self):
        return tf.math.divide_no_nan(self.correct, self.total)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)


class MaskedMeanIoU(tf.keras.metrics.Metric):
    def __init__(self, num_classes, name="miou", **kw):
        super().__init__(name=name, **kw)
        self.num_classes = num_classes
        self.cm = self.add_weight(name="cm", shape=(num_classes, num_classes), initializer="zeros", dtype=tf.float64)

    def update_state(self, y_true, logits, sample_weight=None):
        y = tf.reshape(tf.cast(y_true, tf.int32), [-1])
        pred = tf.reshape(tf.argmax(logits, axis=-1, output_type=tf.int32), [-1])
        valid = tf.not_equal(y, VOID)
        cm = tf.math.confusion_matrix(tf.boolean_mask(y, valid), tf.boolean_mask(pred, valid),
                                      num_classes=self.num_classes, dtype=tf.float64)
        self.cm.assign_add(cm)

    def result(self):
        tp = tf.linalg.diag_part(self.cm)
        union = tf.reduce_sum(self.cm, 0) + tf.reduce_sum(self.cm, 1) - tp
        present = union > 0
        iou = tf.math.divide_no_nan(tp, union)
        return tf.math.divide_no_nan(tf.reduce_sum(tf.where(present, iou, 0.0)),
                                     tf.reduce_sum(tf.cast(present, tf.float64)))

    def reset_state(self):
        self.cm.assign(tf.zeros_like(self.cm))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}
