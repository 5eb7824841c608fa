"""gan_utils: the thin helper package behind the GAN notebook series.

Each module does one job, and each public function names the notebook that
teaches it:

- ``paths``      where runs and figures go (all notebooks)
- ``params``     checking a notebook's parameters (all notebooks)
- ``data``       loading and batching MNIST (02, 03)
- ``repro``      seeding and recording run information (all notebooks)
- ``plotting``   digit grids and saving figures (all notebooks)
- ``models``     the dense GAN and the conditional DCGAN (02, 03)
- ``training``   the shared GAN train step, history and checkpoints (02, 03)
- ``recipes``    the two training recipes, one copy each (02, 03, 04)
- ``evaluation`` the evaluation classifier and sample-quality metrics (02-04)
- ``sample``     sampling a saved generator, with a command line (03)
- ``evaluate``   scoring a samples file from the command line (03, README)
- ``analysis``   reading saved runs and testing convergence claims (04)
- ``run``        running the notebooks headless through papermill (README)
"""
import os

# Keep TensorFlow's C++ start-up chatter out of notebook and papermill logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
