"""Seeding Python, NumPy and Keras in one call (every notebook)."""


def set_seed(seed):
    """Seed Python, NumPy and Keras/TensorFlow in one call: the same seed gives the same numbers (01)."""
    import keras
    from keras.src.backend.common import global_state

    keras.utils.set_random_seed(seed)  # seeds Python's random, NumPy's global generator and TensorFlow too
    # Unseeded keras.random calls draw from Keras's global SeedGenerator. Keras 3.13+ drops it here so that it is
    # made again from the new seed; 3.10-3.12 keep it, and its next draws would not repeat: drop it on all.
    global_state.set_global_attribute("global_seed_generator", None)
