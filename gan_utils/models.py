"""The series' two GANs, built with the Keras functional API (02_dense_gan, 03_conditional_dcgan).

Only standard Keras layers are used, so a saved generator reloads with plain
``keras.saving.load_model`` and no custom objects. Discriminators return
logits: one per image (``d_output="logit"``) or two, [generated, real]
(``d_output="two_node"``, as the report draws it); ``training.real_logit``
turns either into the single logit of "real".
"""
import keras
from keras import layers

LATENT_DIM = 100
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)


def _head(x, d_output):
    if d_output not in ("two_node", "logit"):
        raise ValueError(f"d_output={d_output!r}: use 'two_node' (the report) or 'logit'.")
    return layers.Dense(2 if d_output == "two_node" else 1, name="logits_" + d_output)(x)


def dense_generator(latent_dim=LATENT_DIM, hidden=(150, 300)):
    """The report's ordinary generator: z -> 150 ReLU -> 300 ReLU -> 784 tanh -> 28x28x1 (02)."""
    z = keras.Input((latent_dim,), name="z")
    x = z
    for units in hidden:
        x = layers.Dense(units, activation="relu")(x)
    x = layers.Dense(28 * 28, activation="tanh")(x)
    out = layers.Reshape(IMAGE_SHAPE, name="image")(x)
    model = keras.Model(z, out, name="dense_generator")
    assert model.output_shape == (None, *IMAGE_SHAPE), model.output_shape
    return model


def dense_discriminator(hidden=(300, 150), d_output="two_node", style="report", dropout=0.3):
    """The report's ordinary discriminator, the generator reversed: 784 -> 300 -> 150 -> logits (02).

    ``style="report"``: ReLU, as the report wrote it. ``style="leaky_dropout"``:
    LeakyReLU(0.2) and dropout after each hidden layer, same layer sizes.
    """
    if style not in ("report", "leaky_dropout"):
        raise ValueError(f"style={style!r}: use 'report' or 'leaky_dropout'.")
    img = keras.Input(IMAGE_SHAPE, name="image")
    x = layers.Flatten()(img)
    for units in hidden:
        if style == "report":
            x = layers.Dense(units, activation="relu")(x)
        else:
            x = layers.Dense(units)(x)
            x = layers.LeakyReLU(0.2)(x)
            x = layers.Dropout(dropout)(x)
    model = keras.Model(img, _head(x, d_output), name="dense_discriminator")
    assert model.output_shape == (None, 2 if d_output == "two_node" else 1), model.output_shape
    return model


def conditional_generator(latent_dim=LATENT_DIM, num_classes=NUM_CLASSES, width=64, label_planes=True):
    """Conditional DCGAN generator: [z, one-hot label] -> 7x7 -> 14x14 -> 28x28 (03).

    The label is concatenated to z, projected (no hidden fully connected layer)
    to a 7x7 map, then two fractional-strided convolutions upsample it;
    batch normalization and ReLU in between, tanh at the output. With
    ``label_planes`` the label is also stacked onto the 7x7 features as ten
    constant planes, so the convolutions see it directly.
    """
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((num_classes,), name="label_one_hot")
    x = layers.Concatenate(name="z_and_label")([z, label])
    x = layers.Dense(7 * 7 * 2 * width, use_bias=False, name="project")(x)
    x = layers.Reshape((7, 7, 2 * width))(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    if label_planes:  # the label again, as ten constant 7x7 planes beside the features
        planes = layers.UpSampling2D(size=(7, 7), name="label_planes_7x7")(layers.Reshape((1, 1, num_classes))(label))
        x = layers.Concatenate(name="features_and_label")([x, planes])
    x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(x)
    assert tuple(x.shape[1:]) == (14, 14, width), x.shape
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    out = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh", name="image")(x)
    model = keras.Model([z, label], out, name="conditional_generator")
    assert model.output_shape == (None, *IMAGE_SHAPE), model.output_shape
    return model


def conditional_discriminator(num_classes=NUM_CLASSES, width=64, d_output="logit", projection=True):
    """Conditional DCGAN discriminator: image + label planes -> strided convs -> logits (03).

    The one-hot label is broadcast to ten constant 28x28 planes stacked onto
    the image, so every filter of the first layer sees which digit was asked
    for. Strided convolutions, LeakyReLU(0.2), batch normalization after the
    first layer (Radford et al.), and no hidden fully connected layer.
    With ``projection`` the label also enters at the end: the logit gains the
    inner product of the features with a learned embedding of the label, so
    "real, but not this digit" is cheap for D to express.
    """
    img = keras.Input(IMAGE_SHAPE, name="image")
    label = keras.Input((num_classes,), name="label_one_hot")
    planes = layers.Reshape((1, 1, num_classes))(label)
    planes = layers.UpSampling2D(size=IMAGE_SHAPE[:2], name="label_planes")(planes)
    x = layers.Concatenate(name="image_and_label")([img, planes])
    x = layers.Conv2D(width, 4, strides=2, padding="same")(x)
    x = layers.LeakyReLU(0.2)(x)
    assert tuple(x.shape[1:]) == (14, 14, width), x.shape
    x = layers.Conv2D(2 * width, 4, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    assert tuple(x.shape[1:]) == (7, 7, 2 * width), x.shape
    h = layers.Flatten(name="features")(x)
    out = _head(h, d_output)
    if projection:  # Miyato & Koyama's projection: logit += <embedding(label), features>
        embedded = layers.Dense(h.shape[-1], use_bias=False, name="label_embedding")(label)
        out = layers.Add(name="logit_plus_projection")([out, layers.Dot(axes=1, name="projection")([embedded, h])])
    return keras.Model([img, label], out, name="conditional_discriminator")
