"""gan_utils: the thin helper package behind the GAN notebook series; one job per module.

paths (where outputs go), params (checking parameters), repro (seeds, run info, atomic files), data (MNIST),
plotting (figures), precision (dtype policy), callbacks/checkpoint/records (training plumbing and a run's
files), evaluation (classifier and metrics), and the commands sample, evaluate and run. Models and
training steps live in the notebooks.
"""
import os

# Keep TensorFlow's C++ start-up chatter out of notebook and papermill logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.2.0"
