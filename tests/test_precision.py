"""The PRECISION choice (gan_utils.precision), and determinism and exact resume under mixed precision."""

import keras
import numpy as np
import pytest
from gan_fixtures import GeneratorEMA, config, make_gan, rows, state, train

from gan_utils import precision


@pytest.fixture(autouse=True)
def restore_policy():
    before = keras.mixed_precision.global_policy().name
    yield
    keras.mixed_precision.set_global_policy(before)


def test_a_cpu_without_bfloat16_falls_back_to_float32_with_a_reason():
    policy, reason = precision.choose("auto", flags={"avx2", "avx512f"}, gpu_capability=None)
    assert policy == "float32" and "no native bfloat16" in reason


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_a_cpu_with_native_bfloat16_gets_mixed_bfloat16(flag):
    policy, reason = precision.choose("auto", flags={"avx2", flag}, gpu_capability=None)
    assert policy == "mixed_bfloat16" and flag in reason


def test_gpus_with_tensor_cores_get_float16_older_ones_float32():
    assert precision.choose("auto", flags=set(), gpu_capability=(8, 0))[0] == "mixed_float16"
    assert precision.choose("auto", flags={"avx512_bf16"}, gpu_capability=(6, 1))[0] == "float32"


def test_a_forced_policy_is_honoured_and_printed(capsys):
    assert precision.choose("float32", flags={"avx512_bf16"}, gpu_capability=None) == ("float32", "asked for")
    assert precision.use("mixed_bfloat16") == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert "Precision: mixed_bfloat16 (asked for)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="PRECISION = 'float8'"):
        precision.choose("float8")


def test_float16_optimizer_scales_the_loss():
    opt = precision.optimizer("mixed_float16", 2e-4, 0.5)
    assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
    assert float(opt.scale_loss(keras.ops.convert_to_tensor(1.0))) > 1.0
    assert float(precision.optimizer("mixed_bfloat16", 2e-4, 0.5).scale_loss(keras.ops.convert_to_tensor(1.0))) == 1.0


def test_mixed_bfloat16_is_deterministic_and_resumes_exactly(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")

    def new():
        gan = make_gan(cond=True)
        return gan, GeneratorEMA(gan.generator)

    runs = []
    for name in ("a", "b"):
        gan, ema = new()
        assert gan.generator.layers[-2].compute_dtype == "bfloat16"
        run = train(gan, config(tmp_path / name / "run"), ema)
        runs.append((rows(run), state(gan, ema)))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    gan, ema = new()
    train(gan, config(tmp_path / "c" / "run", epochs=1), ema)
    gan, ema = new()
    run = train(gan, config(tmp_path / "c" / "run", epochs=2, resume=True), ema)
    assert rows(run) == runs[0][0]
    for a, b in zip(state(gan, ema), runs[0][1]):
        np.testing.assert_array_equal(a, b)
    assert np.isfinite([r["d_loss"] for r in runs[0][0]]).all()
