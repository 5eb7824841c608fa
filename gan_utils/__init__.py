"""gan_utils: the plumbing behind the GAN notebook series, one job per module (the notebooks define the models,
losses and training steps); see the README for the map."""

import os

# Keep TensorFlow's C++ start-up chatter out of notebook and papermill logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.5.3"
