"""The series' two training recipes, shared by the notebooks that train (02, 03, 04).

A recipe builds a compiled ``GAN`` from its settings (and remembers them in
``gan.settings``); ``train`` runs it with the records every notebook needs.
Notebook 04 calls the very same functions when it must train a model that
notebook 02 or 03 has not saved, so there is one copy of each recipe.
"""
from . import evaluation, models, repro, training


def dense_gan(latent_dim=100, d_output="two_node", stabilize=True, g_loss="nonsaturating", label_smoothing=0.1,
              learning_rate=2e-4, beta_1=0.5, seed=0):
    """The report's ordinary GAN, as a compiled ``GAN`` (02).

    ``stabilize=False`` is the report's exact recipe (ReLU discriminator, hard
    labels); ``True`` keeps the layer sizes but uses LeakyReLU and dropout in D
    and one-sided label smoothing.
    """
    repro.set_seed(seed)
    g = models.dense_generator(latent_dim)
    d = models.dense_discriminator(d_output=d_output, style="leaky_dropout" if stabilize else "report")
    gan = training.build_gan(g, d, learning_rate=learning_rate, beta_1=beta_1, latent_dim=latent_dim,
                             g_loss=g_loss, seed=seed, label_smoothing=label_smoothing if stabilize else 0.0)
    gan.settings = dict(model="dense", LATENT_DIM=latent_dim, D_OUTPUT=d_output, STABILIZE=stabilize, G_LOSS=g_loss,
                        LABEL_SMOOTHING=label_smoothing if stabilize else 0.0, LEARNING_RATE=learning_rate,
                        BETA_1=beta_1, SEED=seed)
    return gan


def conditional_dcgan(latent_dim=100, width=64, ema_decay=0.999, learning_rate=2e-4, beta_1=0.5, seed=0):
    """The report's conditional DCGAN, as a compiled ``GAN`` with ``num_classes=10`` (03)."""
    repro.set_seed(seed)
    g = models.conditional_generator(latent_dim, width=width)
    d = models.conditional_discriminator(width=width)
    gan = training.build_gan(g, d, learning_rate=learning_rate, beta_1=beta_1, latent_dim=latent_dim,
                             num_classes=10, ema_decay=ema_decay, seed=seed)
    gan.settings = dict(model="conditional_dcgan", LATENT_DIM=latent_dim, WIDTH=width, EMA_DECAY=ema_decay,
                        LEARNING_RATE=learning_rate, BETA_1=beta_1, SEED=seed)
    return gan


def train(gan, run_dir, x_train, y_train=None, x_val=None, y_val=None, *, epochs, batch_size=128, resume=False, val_every=50,
          snapshot_epochs=(0,), score_every=1, score_samples=2000, notebook="", log_every=1):
    """Train a recipe's ``gan`` with history, snapshots, quality checks and checkpoints in ``run_dir`` (02).

    Records the settings, epochs, seed and library versions in ``run_info.json``.
    ``score_every``: epochs between quality checks on ``score_samples`` samples
    (0: none during training). ``x_val``, ``y_val``: held-out digits and their
    labels for the validation check. Returns the ``training.Run``.
    """
    settings = dict(gan.settings, BATCH_SIZE=batch_size, TRAIN_IMAGES=len(x_train))
    seed = settings["SEED"]
    callbacks = []
    if score_every:
        callbacks.append(evaluation.QualityCallback(every=score_every, n_samples=score_samples, seed=seed))
    return training.train_gan(gan, x_train, y_train if gan.num_classes else None, run_dir=run_dir, epochs=epochs,
                              batch_size=batch_size, seed=seed, resume=resume, val_real=x_val, val_real_labels=y_val,
                              val_every=val_every,
                              snapshot_epochs=snapshot_epochs, settings=settings, extra_callbacks=callbacks,
                              log_every=log_every, notebook=notebook)
