"""Metrics against a hand-computed confusion matrix; the loss ignores void pixels."""
import numpy as np
import pytest
import tensorflow as tf

import keras_model  # noqa: F401
from keras_model import metrics


def test_confusion_and_scores_hand_computed():
    # 3 classes; 255 = void (ignored)
    y = np.array([[0, 0, 1, 1], [2, 2, 255, 0]])
    p = np.array([[0, 1, 1, 1], [2, 0, 2, 0]])
    cm = metrics.confusion_matrix(y, p, 3)
    # by hand: true 0 -> pred (0,1,0) = [2,1,0]; true 1 -> [0,2,0]; true 2 -> [1,0,1]; the void pixel is skipped
    assert cm.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 1]]
    s = metrics.scores(cm)
    assert s["pixels"] == 7
    assert s["pixel_accuracy"] == pytest.approx(5 / 7)
    # IoU = TP / (TP + FP + FN): class0 2/(2+1+1)=0.5, class1 2/(2+1+0)=2/3, class2 1/(1+0+1)=0.5
    assert s["iou"] == pytest.approx([0.5, 2 / 3, 0.5])
    assert s["miou"] == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)


def test_absent_class_is_excluded_from_miou():
    cm = metrics.confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), 4)
    s = metrics.scores(cm)
    assert s["iou"][2] is None and s["iou"][3] is None
    assert s["miou"] == pytest.approx((0.5 + 0.5) / 2)


def test_label_out_of_range_is_refused():
    with pytest.raises(ValueError, match="label 7"):
        metrics.confusion_matrix(np.array([7]), np.array([0]), 3)


def test_keras_metrics_agree_with_numpy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, (3, 8, 8)).astype(np.uint8)
    y[0, :2] = 255
    logits = rng.normal(size=(3, 8, 8, 4)).astype(np.float32)
    cm = metrics.confusion_matrix(y, logits.argmax(-1), 4)
    ref = metrics.scores(cm)
    acc = metrics.MaskedPixelAccuracy()
    acc.update_state(y, logits)
    miou = metrics.MaskedMeanIoU(4)
    miou.update_state(y, logits)
    assert float(acc.result()) == pytest.approx(ref["pixel_accuracy"])
    assert float(miou.result()) == pytest.approx(ref["miou"])


def test_loss_ignores_void():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, (2, 4, 4)).astype(np.uint8)
    y[:, 0, :] = 255
    logits = rng.normal(size=(2, 4, 4, 5)).astype(np.float32)
    got = float(metrics.masked_sparse_ce(tf.constant(y), tf.constant(logits)))
    # reference: mean softmax cross-entropy over non-void pixels, in numpy
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    valid = y != 255
    ce = -np.take_along_axis(logp, np.where(valid, y, 0)[..., None].astype(int), -1)[..., 0]
    assert got == pytest.approx(ce[valid].mean(), rel=1e-5)
    # changing the logits of void pixels changes nothing
    logits2 = logits.copy()
    logits2[:, 0, :, :] = 100 * rng.normal(size=logits2[:, 0, :, :].shape)
    assert float(metrics.masked_sparse_ce(tf.constant(y), tf.constant(logits2))) == pytest.approx(got, rel=1e-6)
