"""Choosing the numeric precision of training (02, 03): ``"auto"`` picks mixed_bfloat16 on CPUs with native bfloat16
(AVX512_BF16 or AMX), mixed_float16 (loss-scaled) on GPUs of compute capability 7.0 or newer, else float32."""

import keras
import tensorflow as tf

from .machine import cpuinfo

POLICIES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def cpu_flags():
    """The CPU feature flags the operating system reports (empty where it reports none)."""
    return set((cpuinfo("flags") or "").split())


def choose(precision="auto", flags=None, gpu_capability="detect"):
    """The policy to use for ``precision`` and why, as ``(policy, reason)``."""
    if precision not in POLICIES:
        raise ValueError(f"PRECISION = {precision!r}: use one of {', '.join(POLICIES)}.")
    if precision != "auto":
        return precision, "asked for"
    if gpu_capability == "detect":
        details = [tf.config.experimental.get_device_details(g) for g in tf.config.list_physical_devices("GPU")]
        gpu_capability = next((d["compute_capability"] for d in details if d.get("compute_capability")), None)
    if gpu_capability is not None:
        cc = "{}.{}".format(*gpu_capability)
        if tuple(gpu_capability) >= (7, 0):
            return "mixed_float16", f"a GPU with tensor cores (compute capability {cc})"
        return "float32", f"a GPU without tensor cores (compute capability {cc})"
    native = sorted((cpu_flags() if flags is None else set(flags)) & {"avx512_bf16", "amx_bf16"})
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
