"""Shapes, sizes and label conditioning of the series' networks."""
import numpy as np
import pytest

import keras
from gan_utils import models, repro


def test_dense_gan_is_the_reports():
    g, d = models.dense_generator(), models.dense_discriminator()
    assert [l.units for l in g.layers if isinstance(l, keras.layers.Dense)] == [150, 300, 784]
    assert [l.units for l in d.layers if isinstance(l, keras.layers.Dense)] == [300, 150, 2]
    assert g.output_shape == (None, 28, 28, 1) and g.layers[-2].get_config()["activation"] == "tanh"
    assert models.dense_discriminator(d_output="logit").output_shape == (None, 1)
    assert any(isinstance(l, keras.layers.Dropout) for l in models.dense_discriminator(style="leaky_dropout").layers)
    with pytest.raises(ValueError, match="two_node"):
        models.dense_discriminator(d_output="three")


def test_conditional_dcgan_follows_radford():
    g, d = models.conditional_generator(), models.conditional_discriminator()
    assert g.output_shape == (None, 28, 28, 1)
    kinds = {type(l).__name__ for l in g.layers}
    assert {"Conv2DTranspose", "BatchNormalization", "ReLU"} <= kinds and "Conv2D" not in kinds
    assert {"Conv2D", "LeakyReLU", "BatchNormalization"} <= {type(l).__name__ for l in d.layers}
    # no fully connected hidden layer: Dense only as G's projection of (z, label) and D's output / label embedding
    assert [l.name for l in g.layers if isinstance(l, keras.layers.Dense)] == ["project"]
    assert {l.name for l in d.layers if isinstance(l, keras.layers.Dense)} <= {"logits_logit", "label_embedding"}
    assert 0.5e6 < g.count_params() + d.count_params() < 1.5e6  # compact enough for a 2-core CPU


def _onehot(digits):
    return np.eye(10, dtype=np.float32)[digits]


def test_the_label_changes_the_sample_and_reaches_d():
    repro.set_seed(0)
    g, d = models.conditional_generator(width=16), models.conditional_discriminator(width=16)
    z = np.random.default_rng(0).standard_normal((1, 100)).astype(np.float32).repeat(10, 0)
    images = g.predict([z, _onehot(np.arange(10))], verbose=0)
    assert not np.allclose(images[0], images[1])  # same z, another label: another image
    same = g.predict([z[:2], _onehot([3, 3])], verbose=0)
    np.testing.assert_allclose(same[0], same[1], atol=1e-6)  # same z, same label: same image
    x = images[:1].repeat(10, 0)
    logits = d.predict([x, _onehot(np.arange(10))], verbose=0)[:, 0]
    assert np.ptp(logits) > 1e-4  # the same image judged differently under different labels
