"""The diffusers backend, end to end on the CPU with a tiny, randomly initialised Wan 2.2 TI2V-shaped pipeline
built offline (ByT5's byte tokenizer needs no vocabulary download), saved the way the real
``Wan-AI/Wan2.2-TI2V-5B-Diffusers`` repository is (``WanPipeline`` with ``expand_timesteps``) and loaded from
that folder. Skipped where torch/diffusers/transformers are not installed (the CI does not need them).

A ``gpu`` test loads the real model when a GPU and its cached weights are present."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("ftfy")  # Wan's prompt cleaning needs it

from pipeline.backends import create_backend
from pipeline.backends.base import RenderContext, RenderRequest
from pipeline.backends.diffusers import FAMILIES, DiffusersBackend
from pipeline.errors import BackendError, RecipeError, RenderError
from pipeline.media.probe import probe

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
REAL_MODEL = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"


def build_tiny_wan22(folder: Path) -> Path:
    """Save a tiny random Wan 2.2 TI2V-5B-shaped pipeline (48-channel VAE, expand_timesteps) to ``folder``."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import ByT5Tokenizer, UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    tokenizer = ByT5Tokenizer()  # bytes in, no vocabulary file to download
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=1,
                                               num_heads=4, relative_attention_num_buckets=8))
    vae = AutoencoderKLWan(base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
                           latents_mean=[0.0] * 48, latents_std=[1.0] * 48, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           scale_factor_spatial=16, scale_factor_temporal=4, temperal_downsample=[False, True, True])
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                        in_channels=48, out_channels=48, text_dim=32, freq_dim=256, ffn_dim=32,
                                        num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                        rope_max_seq_len=32)
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                       transformer=transformer, transformer_2=None, boundary_ratio=None, expand_timesteps=True)
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_wan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Wan 2.2 TI2V pipeline folder, built once for the module."""
    return build_tiny_wan22(tmp_path_factory.mktemp("tiny-wan22"))


@pytest.fixture(scope="module")
def tiny_backend(tiny_wan: Path) -> Iterator[DiffusersBackend]:
    """One backend (one loaded pipeline) shared by the tests that only render."""
    backend = DiffusersBackend(_config(tiny_wan))
    yield backend
    backend.close()


def _config(model: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"name": "diffusers", "model": str(model), "device": "cpu", "steps": 2,
                              "max_area": 64 * 32}
    config.update(overrides)
    return config


def _request(shot: str = "cup", seconds: float = 1.0, **kw: Any) -> RenderRequest:
    return RenderRequest(shot_id=shot, prompt="Close-up of a cup of coffee. Slow push in.",
                         image=SAMPLES / "coffee.jpg", seconds=seconds, width=320, height=180, fps=15, seed=3,
                         cache_key=f"diff-{shot}", **kw)


def test_renders_a_clip_at_the_models_size_and_fps(tiny_wan: Path, tmp_path: Path) -> None:
    backend = create_backend(_config(tiny_wan))
    assert isinstance(backend, DiffusersBackend) and backend.concurrency == 1
    warnings = backend.preflight(_request())
    assert any("CPU" in w for w in warnings) and backend.estimate_cost(_request()) == 0.0
    states: list[str] = []
    signed: list[tuple[RenderRequest, dict[str, Any]]] = []
    ctx = RenderContext(work_dir=tmp_path, on_progress=lambda s, st, f: states.append(st),
                        signer=lambda p, r, i: signed.append((r, i)))
    result = backend.render(_request(), tmp_path / "cup.mp4", ctx)
    media = probe(tmp_path / "cup.mp4")
    assert media.video is not None and (media.video.width, media.video.height) == (64, 32)  # 2:1 within 2048 px
    assert media.video.fps == 24 and media.video.frames == 25  # TI2V-5B renders 24 fps; 4k+1 frames >= 1 s
    assert media.audio is not None  # a silent track, like the local renderer's clips
    assert result.info["pipeline"] == "WanImageToVideoPipeline" and result.info["steps"] == 2
    assert "rendering" in states and states[-1] == "done"
    (request, info), = signed
    assert request.model == str(tiny_wan) and info["backend"] == "diffusers"  # the model reaches the manifest


def test_same_seed_same_frames(tiny_backend: DiffusersBackend, tmp_path: Path) -> None:
    ctx = RenderContext(work_dir=tmp_path)
    tiny_backend.render(_request(seconds=0.2), tmp_path / "a.mp4", ctx)
    tiny_backend.render(_request(seconds=0.2), tmp_path / "b.mp4", ctx)
    from pipeline.media.probe import video_packets

    assert video_packets(tmp_path / "a.mp4") == video_packets(tmp_path / "b.mp4")


def test_run_signs_with_the_model_and_the_edit_resamples(tiny_wan: Path, tmp_path: Path) -> None:
    """A recipe run: plan, render, provenance, edit to the recipe's 15 fps and 320x180, sign."""
    from pipeline.runner import run_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""\
version: 1
title: diffusers e2e
output: {{path: out/d.mp4, size: 320x180, fps: 15}}
backend: {{name: diffusers, model: {tiny_wan}, device: cpu, steps: 2, max_area: 2048}}
provenance: {{require: valid, sign: true}}
qc: {{policy: off}}
shots:
  - {{id: cup, image: {SAMPLES / 'coffee.jpg'}, prompt: "A cup of coffee. Slow push in.", seconds: 1}}
""", encoding="utf-8")
    result = run_recipe(recipe)
    out = probe(result.output)
    assert out.video is not None and (out.video.width, out.video.height, out.video.fps) == (320, 180, 15)
    assert abs(out.duration - 1.0) < 0.1
    verdict = result.shot_provenance["cup"]
    assert verdict["state"] in ("valid", "trusted")
    assert verdict["digital_source_type"].endswith("/trainedAlgorithmicMedia")
    from pipeline.provenance import _c2pa

    store = _c2pa.read_store(result.plan.shots[0].clip_path, _c2pa.make_context()).store
    assert json.dumps(str(tiny_wan))[1:-1] in json.dumps(store)


def test_interrupt_cancels_between_steps(tiny_backend: DiffusersBackend, tmp_path: Path) -> None:
    backend = tiny_backend

    def progress(shot: str, state: str, fraction: float | None) -> None:
        if state == "rendering" and fraction:
            backend.interrupt()

    with pytest.raises(BackendError) as info:
        backend.render(_request(), tmp_path / "x.mp4", RenderContext(work_dir=tmp_path, on_progress=progress))
    assert info.value.code == "cancelled" and not (tmp_path / "x.mp4").exists()
    backend.reset_interrupt()


def test_model_not_on_disk_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backend = DiffusersBackend({"name": "diffusers", "model": "no-such-org/no-such-model", "device": "cpu"})
    with pytest.raises(RenderError, match="not in the Hugging Face cache") as info:
        backend.preflight(_request())
    assert "hf download no-such-org/no-such-model" in (info.value.hint or "")
    with pytest.raises(RenderError, match="model folder not found"):
        DiffusersBackend({"name": "diffusers", "model": "./missing", "device": "cpu"}).preflight(_request())


def test_family_detection_and_config_errors(tmp_path: Path) -> None:
    for class_name, family in (("LTXImageToVideoPipeline", "ltx"), ("StableVideoDiffusionPipeline", "svd"),
                               ("WanImageToVideoPipeline", "wan")):
        folder = tmp_path / family
        folder.mkdir()
        (folder / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
        backend = DiffusersBackend({"name": "diffusers", "model": str(folder), "device": "cpu"})
        assert backend._resolve_family("a") is FAMILIES[family]
    assert FAMILIES["ltx"].frames_for(1.1, 25) == 33 and FAMILIES["wan"].frames_for(1.0, 16) == 17
    other = tmp_path / "sdxl"
    other.mkdir()
    (other / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    with pytest.raises(RenderError, match="not an image-to-video pipeline"):
        DiffusersBackend({"name": "diffusers", "model": str(other), "device": "cpu"}).preflight(_request())
    with pytest.raises(RenderError, match="cannot remix"):
        DiffusersBackend({"name": "diffusers", "device": "cpu"}).preflight(_request(remix_of="a"))
    for bad in ({"device": "gpu"}, {"dtype": "int8"}, {"cpu_offload": "all"}, {"steps": 0}, {"size": "big"},
                {"pipeline": "sora"}):
        with pytest.raises(RecipeError):
            DiffusersBackend({"name": "diffusers", **bad})
    warnings = DiffusersBackend({"name": "diffusers", "model": str(tmp_path / "wan"), "device": "cpu",
                                 "stepz": 3}).preflight(_request())
    assert any("did you mean 'steps'" in w for w in warnings)


def test_missing_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from pipeline.errors import UsageError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "diffusers" else real(name, *a))
    with pytest.raises(UsageError) as info:
        DiffusersBackend({"name": "diffusers"})
    assert "pip install 'reelpipe[diffusers]'" in (info.value.hint or "")


@pytest.mark.gpu
def test_real_wan22_ti2v_on_a_gpu(tmp_path: Path) -> None:
    """Loads the real Wan 2.2 TI2V-5B from the Hugging Face cache and renders one short clip."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(REAL_MODEL, "model_index.json"), str):
        pytest.skip(f"{REAL_MODEL} is not in the Hugging Face cache")
    backend = DiffusersBackend({"name": "diffusers", "model": REAL_MODEL, "steps": 20, "max_area": 704 * 1280})
    request = RenderRequest(shot_id="cup", prompt="Close-up of a cup of coffee. Slow push in.",
                            image=SAMPLES / "coffee.jpg", seconds=2, width=1280, height=720, fps=24, seed=1)
    backend.render(request, tmp_path / "cup.mp4", RenderContext(work_dir=tmp_path))
    media = probe(tmp_path / "cup.mp4")
    assert media.video is not None and media.video.fps == 24 and media.duration >= 2.0
