"""The networks, losses and train steps the notebooks define in their own cells (02, 03).

Only the notebooks' imports, ``def`` and ``class`` statements are run (after the
parameters cell, with small overrides), never their training or plotting cells,
so these tests take seconds and still test the code a student reads.
"""

import ast

import keras
import numpy as np
import pytest

from gan_utils import cells


def definitions(notebook, **overrides):
    """The namespace of ``notebook`` after its parameters cell, ``overrides`` and every top-level import,
    function and class of its code cells."""
    code = cells.code_cells(notebook)
    i = code.index(cells.code_cells(notebook, "parameters")[0])
    ns = {"__name__": f"nb_{notebook}"}
    exec(compile(code[i], f"<{notebook} parameters>", "exec"), ns)
    ns.update(overrides)
    kinds = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)
    for k, cell in enumerate(code[i + 1 :], i + 1):
        tree = ast.parse(cell)
        tree.body = [node for node in tree.body if isinstance(node, kinds)]
        exec(compile(tree, f"<{notebook} cell {k}>", "exec"), ns)
    return ns


def _gan_class(ns):
    found = [v for v in ns.values() if isinstance(v, type) and issubclass(v, keras.Model) and v is not keras.Model]
    assert len(found) == 1, f"expected one keras.Model subclass, found {found}"
    return found[0]


def _one_hot(digits):
    return np.eye(10, dtype=np.float32)[digits]


def _gan_and_batch(notebook):
    if notebook == "02_dense_gan":
        ns = definitions(notebook)
        g, d = ns["build_generator"](), ns["build_discriminator"]()
    else:
        ns = definitions(notebook, WIDTH=8)
        g, d = ns["build_generator"](width=8), ns["build_discriminator"](width=8)
    keras.utils.set_random_seed(0)
    gan = _gan_class(ns)(g, d)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5), g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5)
    )
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (16, 28, 28, 1)).astype(np.float32)
    x = keras.ops.convert_to_tensor(x)  # tensors, as model.fit feeds them
    return ns, gan, (x if len(g.inputs) == 1 else (x, keras.ops.convert_to_tensor(_one_hot(np.arange(16) % 10))))


@pytest.mark.parametrize("notebook", ["02_dense_gan", "03_conditional_dcgan"])
def test_each_optimizer_moves_only_its_own_network(notebook):
    ns, gan, batch = _gan_and_batch(notebook)
    applied = {}
    for name in ("d_optimizer", "g_optimizer"):
        opt = getattr(gan, name)

        def spy(grads, variables, _orig=opt.apply, _name=name):
            applied[_name] = [id(v) for v in variables]
            assert all(g is not None for g in grads), f"{_name}: a weight without gradient"
            return _orig(grads, variables)

        opt.apply = spy
    g0 = [w.numpy() for w in gan.generator.trainable_weights]
    d0 = [w.numpy() for w in gan.discriminator.trainable_weights]
    logs = gan.train_step(batch)
    assert set(applied["d_optimizer"]) == {id(v) for v in gan.discriminator.trainable_weights}
    assert set(applied["g_optimizer"]) == {id(v) for v in gan.generator.trainable_weights}
    moved = lambda before, net: [not np.array_equal(a, b.numpy()) for a, b in zip(before, net.trainable_weights)]  # noqa: E731
    assert all(moved(g0, gan.generator)) and all(moved(d0, gan.discriminator))
    # the raw numbers the records expect: losses, and D's mean probabilities in [0, 1]
    assert {"d_loss", "g_loss", "d_real", "d_fake"} <= set(logs)
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert 0 <= float(logs["d_real"]) <= 1 and 0 <= float(logs["d_fake"]) <= 1


def test_02_losses_match_their_formulas():
    ns = definitions("02_dense_gan")
    a = np.array([-2.0, 0.0, 3.0], np.float32)
    s = 1 / (1 + np.exp(-a))
    np.testing.assert_allclose(ns["bce"](a, 1.0), np.mean(-np.log(s)), rtol=1e-5)
    np.testing.assert_allclose(ns["bce"](a, 0.0), np.mean(-np.log(1 - s)), rtol=1e-5)
    np.testing.assert_allclose(ns["bce"](a, 0.9), np.mean(-0.9 * np.log(s) - 0.1 * np.log(1 - s)), rtol=1e-5)
    np.testing.assert_allclose(ns["generator_loss"](a, "saturating"), np.mean(np.log(1 - s)), rtol=1e-5)
    np.testing.assert_allclose(ns["generator_loss"](a, "nonsaturating"), np.mean(-np.log(s)), rtol=1e-5)
    np.testing.assert_allclose(
        ns["discriminator_loss"](a, a[::-1], 0.1), ns["bce"](a, 0.9) + ns["bce"](a[::-1], 0.0), rtol=1e-6
    )
    two = np.array([[0.3, 1.5], [2.0, -1.0]], np.float32)  # [generated, real]: softmax == sigmoid of the difference
    np.testing.assert_allclose(ns["real_logit"](two), [1.2, -3.0], rtol=1e-6)
    np.testing.assert_allclose(
        1 / (1 + np.exp(-np.asarray(ns["real_logit"](two)))), np.exp(two[:, 1]) / np.exp(two).sum(1), rtol=1e-6
    )


def test_02_networks_are_the_reports():
    ns = definitions("02_dense_gan")
    g, d = ns["build_generator"](), ns["build_discriminator"](stabilize=False, d_output="two_node")
    assert [layer.units for layer in g.layers if isinstance(layer, keras.layers.Dense)] == [150, 300, 784]
    assert [layer.units for layer in d.layers if isinstance(layer, keras.layers.Dense)] == [300, 150, 2]
    assert g.output_shape == (None, 28, 28, 1) and g.input_shape == (None, 100)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in d.layers)
    variant = ns["build_discriminator"](stabilize=True, d_output="logit")
    assert variant.output_shape == (None, 1)
    assert any(isinstance(layer, keras.layers.Dropout) for layer in variant.layers)
    assert [layer.units for layer in variant.layers if isinstance(layer, keras.layers.Dense)] == [300, 150, 1]


def test_03_the_label_changes_the_sample_and_reaches_d():
    ns = definitions("03_conditional_dcgan", WIDTH=8)
    keras.utils.set_random_seed(0)
    g, d = ns["build_generator"](width=8), ns["build_discriminator"](width=8)
    z = np.random.default_rng(0).standard_normal((1, g.inputs[0].shape[-1])).astype(np.float32).repeat(10, 0)
    images = g.predict([z, _one_hot(np.arange(10))], verbose=0)
    assert images.shape == (10, 28, 28, 1) and np.abs(images).max() <= 1
    assert not np.allclose(images[0], images[1])  # same z, another label: another image
    same = g.predict([z[:2], _one_hot([3, 3])], verbose=0)
    np.testing.assert_allclose(same[0], same[1], atol=1e-6)  # same z, same label: same image
    logits = d.predict([images[:1].repeat(10, 0), _one_hot(np.arange(10))], verbose=0)[:, 0]
    assert np.ptp(logits) > 1e-4  # the same image judged differently under different labels
