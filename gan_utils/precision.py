"""Choosing the numeric precision of training (02, 03).

``"auto"`` picks ``mixed_bfloat16`` on CPUs with native bfloat16 (AVX512_BF16 or AMX), ``mixed_float16``
(with loss scaling) on GPUs of compute capability 7.0 or newer, and ``float32`` otherwise.
"""
import keras

from .repro import cpuinfo

POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def cpu_flags():
    """The CPU feature flags the operating system reports (empty where it reports none)."""
    return set((cpuinfo("flags") or "").split())


def _gpu_capability():
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        cc = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if cc:
            return cc
    return None


def choose(precision="auto", flags=None, gpu_capability="detect"):
    """The policy to use for ``precision`` and why, as ``(policy, reason)``."""
    if precision not in POLICIES:
        raise ValueError(f"PRECISION = {precision!r}: use one of {', '.join(POLICIES)}.")
    if precision != "auto":
        return precision, "asked for"
    cc = _gpu_capability() if gpu_capability == "detect" else gpu_capability
    if cc is not None:
        if tuple(cc) >= (7, 0):
            return "mixed_float16", f"a GPU with tensor cores (compute capability {cc[0]}.{cc[1]})"
        return "float32", f"a GPU without tensor cores (compute capability {cc[0]}.{cc[1]})"
    flags = cpu_flags() if flags is None else set(flags)
    native = sorted(flags & {"avx512_bf16", "amx_bf16"})
    if native:
        return "mixed_bfloat16", f"this CPU computes bfloat16 natively ({', '.join(native)})"
    return "float32", "this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16 flag) and there is no GPU"


def use(precision="auto", **detect):
    """Set Keras's global dtype policy for the models built after this call; prints and returns the policy."""
    policy, reason = choose(precision, **detect)
    keras.mixed_precision.set_global_policy(policy)
    print(f"Precision: {policy} ({reason}).")
    return policy


def optimizer(policy, learning_rate, beta_1):
    """Adam with the given settings; under mixed_float16 wrapped to scale the loss (no float16 underflow)."""
    opt = keras.optimizers.Adam(learning_rate, beta_1=beta_1)
    return keras.optimizers.LossScaleOptimizer(opt) if policy == "mixed_float16" else opt
