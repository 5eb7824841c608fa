"""Atomic checkpoints of a GAN's whole training state (02, 03): both networks, any extra network (the EMA
generator), both optimizers and the random generators, with epoch, iteration and run fingerprint, in an ``.npz``
keyed by owner, layer position and variable (``discriminator/03.Dense/0.kernel``), never by Keras's session-wide
names, so a rebuilt model in a new kernel restores exactly.
"""

import keras
import numpy as np
from keras import ops

from .atomic import atomic_write


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used with this model."""


def _network_state(prefix, net, out):
    for i, layer in enumerate(net.layers):
        for j, v in enumerate(layer.variables):
            out[f"{prefix}/{i:02d}.{type(layer).__name__}/{j}.{v.name}"] = v


def _optimizer_state(prefix, opt, owners, out):
    # Adam's slots are named after the variable they belong to (``dense_3_kernel_momentum``): key them by its key.
    by_name = sorted(((v.path.replace("/", "_"), key) for key, v in owners.items()), key=lambda t: -len(t[0]))
    for k, v in enumerate(opt.variables):
        owner = next((key for name, key in by_name if v.name.startswith(name + "_")), None)
        slot = v.name[len(next(n for n, key in by_name if key == owner)) + 1 :] if owner else v.name
        out[f"{prefix}/{owner or k}/{slot}"] = v


def named_state(gan, extra_networks=None):
    """Every variable a checkpoint holds, as {key: variable}; ``extra_networks``: {name: model} (02)."""
    nets = {"generator": gan.generator, "discriminator": gan.discriminator, **(extra_networks or {})}
    out = {}
    for name, net in nets.items():
        _network_state(name, net, out)
    for opt_name, net_name in (("d_optimizer", "discriminator"), ("g_optimizer", "generator")):
        opt, net = getattr(gan, opt_name), nets[net_name]
        if not opt.built:
            opt.build(net.trainable_variables)
        owners = {k: v for k, v in out.items() if k.startswith(net_name + "/") and v.trainable}
        _optimizer_state(opt_name, opt, owners, out)
    inner = {id(v) for n in nets.values() for v in n.variables}
    for k, v in enumerate(x for x in gan.variables if id(x) not in inner):
        out[f"model/{k}.{v.name}"] = v
    if len({id(v) for v in out.values()}) != len(out):
        raise CheckpointError("a variable appears twice in the state; give each network its own layers.")
    return out


def save(path, gan, epoch, fingerprint, extra_networks=None):
    """Write the state, ``epoch``, the iteration and ``fingerprint`` to ``path`` atomically (02)."""
    arrays = {"state:" + k: ops.convert_to_numpy(v) for k, v in named_state(gan, extra_networks).items()}
    arrays["epoch"] = np.array(epoch, dtype=np.int64)
    arrays["iteration"] = np.array(int(ops.convert_to_numpy(gan.d_optimizer.iterations)), dtype=np.int64)
    arrays["fingerprint"] = np.frombuffer(fingerprint.encode(), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read(path):
    """The arrays of a checkpoint file, without unpickling anything (02)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as e:
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(e).__name__}: {e}). Delete it or choose another RUN_DIR."
        ) from None


def restore(path, gan, fingerprint, extra_networks=None):
    """Load a checkpoint into ``gan``; returns (epoch, iteration). Refuses other settings or architectures (02)."""
    ckpt = read(path)
    saved = bytes(ckpt.get("fingerprint", np.zeros(0, np.uint8))).decode(errors="replace")
    if saved != fingerprint:
        raise CheckpointError(
            f"{path} was made with other settings ({saved}) than this run ({fingerprint}). Resume "
            "with the settings of that run, or set RESUME = False (the old run is kept), or "
            "choose another RUN_DIR."
        )
    state = named_state(gan, extra_networks)
    stored = {k[len("state:") :]: v for k, v in ckpt.items() if k.startswith("state:")}
    missing, unknown = sorted(set(state) - set(stored)), sorted(set(stored) - set(state))
    wrong = [k for k in state if k in stored and tuple(stored[k].shape) != tuple(state[k].shape)]
    if missing or unknown or wrong:
        what = (
            f"missing {missing[:3]}"
            if missing
            else f"unknown {unknown[:3]}"
            if unknown
            else f"{wrong[0]} has shape {tuple(stored[wrong[0]].shape)} there but {tuple(state[wrong[0]].shape)} here"
        )
        raise CheckpointError(
            f"{path} comes from another architecture ({what}). Set RESUME = False (the old run "
            "is kept) or choose another RUN_DIR."
        )
    for k, v in state.items():
        v.assign(stored[k])
    return int(ckpt["epoch"]), int(ckpt["iteration"])


def clone_network(net):
    """A copy of ``net`` with the same weights, not trained by any optimizer (03: the EMA generator)."""
    copy = keras.models.clone_model(net)
    copy.set_weights(net.get_weights())
    copy.trainable = False
    return copy
