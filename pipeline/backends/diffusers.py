"""The ``diffusers`` backend: open-weights image-to-video models on the user's own GPU (or CPU).

Needs the optional extra: ``pip install 'reelpipe[diffusers]'`` (torch, diffusers, transformers,
accelerate). The recipe's ``backend:`` block::

    backend:
      name: diffusers
      model: Wan-AI/Wan2.2-TI2V-5B-Diffusers   # a Hugging Face repo id (from the local cache) or a folder
      pipeline: auto            # auto (from model_index.json) | wan | ltx | svd
      device: auto              # auto (cuda, then mps, then cpu) | cuda | cuda:1 | mps | cpu
      dtype: auto               # auto (bfloat16 on cuda, float16 on mps, float32 on cpu) | bfloat16 | float16 | float32
      vae_dtype: float32        # Wan's VAE is kept in float32 for quality (auto: the same as dtype)
      cpu_offload: none         # none | model (moves each component to the GPU when used) | sequential (least memory)
      steps: 30                 # denoising steps (default: the model family's)
      guidance: 5.0             # classifier-free guidance (SVD: the maximum guidance)
      negative_prompt: "..."    # Wan and LTX
      fps: 24                   # the frame rate the model renders at (default: the family's)
      max_area: 901120          # the render size: the shot's aspect ratio within this many pixels ...
      size: 1280x704            # ... or exactly this size (multiples of the model's block size)
      download: false           # true: fetch the weights from the Hub when they are not cached

Supported pipelines: ``WanImageToVideoPipeline`` (Wan 2.1/2.2 image-to-video, including the Wan 2.2
TI2V-5B repository whose ``model_index.json`` names ``WanPipeline``), ``LTXImageToVideoPipeline`` (LTX-Video)
and ``StableVideoDiffusionPipeline`` (SVD, which takes no prompt). Weights are never downloaded unless
``download: true``. Clips are written at the model's own size and frame rate; the edit stage scales and
resamples them to the recipe's output. Each clip is signed through the run's signer (``ctx.signer``) as
``trainedAlgorithmicMedia``, naming the model.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import logging
import math
import re
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.backends.base import RenderContext, RenderRequest, RenderResult
from pipeline.errors import BackendError, RecipeError, RenderError, UsageError

__all__ = ["CONFIG_KEYS", "DEFAULT_MODEL", "FAMILIES", "DiffusersBackend", "PipelineFamily"]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Wan-AI/Wan2.2-TI2V-5B-Diffusers"
CONFIG_KEYS: frozenset[str] = frozenset({
    "name", "model", "pipeline", "device", "dtype", "vae_dtype", "cpu_offload", "steps", "guidance",
    "negative_prompt", "fps", "max_area", "size", "download", "concurrency", "strict", "recipe_dir", "fit",
})
"""The ``backend:`` keys this backend reads; any other key draws a warning in preflight."""

_VERSION = "diffusers-1"
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_DTYPES = ("auto", "bfloat16", "float16", "float32")
_REQUIRED = ("torch", "diffusers", "transformers")


@dataclass(frozen=True)
class PipelineFamily:
    """How to drive one kind of image-to-video pipeline.

    Attributes:
        name: ``wan``, ``ltx`` or ``svd``.
        class_name: the diffusers pipeline class.
        fps: the frame rate the family renders at by default.
        frame_step, frame_offset: valid frame counts are ``offset + step*k``.
        max_frames: the longest clip the family is meant for (longer draws a warning).
        max_area: the default render area in pixels.
        steps, guidance: default denoising steps and guidance.
        takes_prompt: whether the pipeline is conditioned on text.
    """

    name: str
    class_name: str
    fps: int
    frame_step: int
    frame_offset: int
    max_frames: int
    max_area: int
    steps: int
    guidance: float
    takes_prompt: bool = True

    def frames_for(self, seconds: float, fps: float) -> int:
        """The smallest valid frame count lasting at least ``seconds`` at ``fps``."""
        wanted = max(1, math.ceil(seconds * fps - 1e-6))
        k = max(0, math.ceil((wanted - self.frame_offset) / self.frame_step))
        return max(self.frame_offset + self.frame_step * k, self.frame_offset + self.frame_step)


FAMILIES: dict[str, PipelineFamily] = {
    # Wan 2.1/2.2: 4k+1 frames; 16 fps (A14B, 2.1) or 24 fps (TI2V-5B, chosen from expand_timesteps)
    "wan": PipelineFamily("wan", "WanImageToVideoPipeline", 16, 4, 1, 121, 1280 * 704, 40, 5.0),
    # LTX-Video: 8k+1 frames at 25 fps, sizes in multiples of 32
    "ltx": PipelineFamily("ltx", "LTXImageToVideoPipeline", 25, 8, 1, 257, 768 * 512, 40, 3.0),
    # Stable Video Diffusion: image-only conditioning, trained on 14 (svd) / 25 (svd-xt) frames
    "svd": PipelineFamily("svd", "StableVideoDiffusionPipeline", 7, 1, 0, 25, 1024 * 576, 25, 3.0,
                          takes_prompt=False),
}
"""The pipeline families the backend drives, by name."""


class _Interrupted(Exception):
    """:meth:`DiffusersBackend.interrupt` was called during a render."""


def _positive_int(cfg: Mapping[str, Any], key: str, default: int | None) -> int | None:
    value = cfg.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RecipeError(f"backend.{key}: {value!r} must be a positive integer")
    return value


class DiffusersBackend:
    """Render shots with a diffusers image-to-video pipeline, one at a time (one GPU).

    Args:
        config: the recipe's ``backend:`` block (see the module docstring for the keys).

    Raises:
        UsageError: torch, diffusers or transformers is not installed.
        RecipeError: the block is malformed.
    """

    name = "diffusers"
    concurrency = 1  # one model, one device: shots render one after another

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        missing = [m for m in _REQUIRED if importlib.util.find_spec(m) is None]
        if missing:
            raise UsageError(f"the diffusers backend needs {', '.join(missing)}, which is not installed",
                             hint="pip install 'reelpipe[diffusers]' (a CUDA build of torch for a GPU: see "
                                  "https://pytorch.org/get-started)")
        self.config: dict[str, Any] = dict(config or {})
        cfg = self.config
        self.recipe_dir = Path(str(cfg["recipe_dir"])) if cfg.get("recipe_dir") else None
        self.model: str = str(cfg.get("model") or DEFAULT_MODEL)
        pipeline = str(cfg.get("pipeline", "auto")).lower()
        if pipeline != "auto" and pipeline not in FAMILIES:
            by_class = {f.class_name.lower(): n for n, f in FAMILIES.items()}
            if pipeline not in by_class:
                raise RecipeError(f"backend.pipeline: {cfg.get('pipeline')!r} is not a supported pipeline",
                                  hint=f"use auto, {', '.join(FAMILIES)}, or a class name "
                                       f"({', '.join(f.class_name for f in FAMILIES.values())})")
            pipeline = by_class[pipeline]
        self.pipeline_choice = pipeline
        self.device_choice: str = str(cfg.get("device", "auto"))
        if not re.match(r"^(auto|cpu|mps|cuda(:\d+)?)$", self.device_choice):
            raise RecipeError(f"backend.device: {self.device_choice!r} must be auto, cpu, mps, cuda or cuda:N")
        self.dtype_choice: str = str(cfg.get("dtype", "auto"))
        self.vae_dtype_choice: str = str(cfg.get("vae_dtype", "float32"))
        for key, value in (("dtype", self.dtype_choice), ("vae_dtype", self.vae_dtype_choice)):
            if value not in _DTYPES:
                raise RecipeError(f"backend.{key}: {value!r} must be one of {', '.join(_DTYPES)}")
        self.cpu_offload: str = str(cfg.get("cpu_offload", "none")).lower()
        if self.cpu_offload in ("false", "off", "no"):
            self.cpu_offload = "none"
        if self.cpu_offload not in ("none", "model", "sequential"):
            raise RecipeError(f"backend.cpu_offload: {cfg.get('cpu_offload')!r} must be none, model or sequential")
        self.steps = _positive_int(cfg, "steps", None)
        guidance = cfg.get("guidance")
        if guidance is not None and (isinstance(guidance, bool) or not isinstance(guidance, (int, float))
                                     or guidance < 0):
            raise RecipeError(f"backend.guidance: {guidance!r} must be a number of at least 0")
        self.guidance: float | None = float(guidance) if guidance is not None else None
        self.negative_prompt: str | None = str(cfg["negative_prompt"]) if cfg.get("negative_prompt") else None
        self.fps_override = _positive_int(cfg, "fps", None)
        self.max_area = _positive_int(cfg, "max_area", None)
        self.size: tuple[int, int] | None = None
        if cfg.get("size"):
            m = _SIZE.match(str(cfg["size"]).strip())
            if not m:
                raise RecipeError(f"backend.size: {cfg['size']!r} is not a size like 1280x704")
            self.size = (int(m.group(1)), int(m.group(2)))
        self.download: bool = bool(cfg.get("download", False))
        self.fit: str = str(cfg.get("fit", "cover"))
        if self.fit not in ("cover", "contain"):
            raise RecipeError(f"backend.fit: {self.fit!r} must be 'cover' or 'contain'")
        self._lock = threading.Lock()
        self._pipe: Any = None
        self._family: PipelineFamily | None = None
        self._model_index: dict[str, Any] | None = None
        self._source: str | None = None
        self._interrupt = threading.Event()
        self._warned = False

    # -- the Backend protocol ------------------------------------------------------------------------

    def version(self) -> str:
        """What identifies this backend's output for the render cache: the model and every setting that
        changes the picture (not the device)."""
        settings = json.dumps({"pipeline": self.pipeline_choice, "dtype": self.dtype_choice, "steps": self.steps,
                               "guidance": self.guidance, "negative_prompt": self.negative_prompt,
                               "fps": self.fps_override, "max_area": self.max_area, "size": self.size,
                               "fit": self.fit}, sort_keys=True)
        return f"{_VERSION}@{self.model}~{hashlib.sha256(settings.encode()).hexdigest()[:8]}"

    def estimate_cost(self, request: RenderRequest) -> float:
        """Local renders cost no money (the GPU time is the user's)."""
        return 0.0

    def preflight(self, request: RenderRequest) -> list[str]:
        """Check ``request`` before rendering: an image, no remix, the weights on disk, a sensible length.

        Returns:
            Warnings: unknown backend keys, rendering on the CPU, a clip longer than the model is meant for.

        Raises:
            RenderError: no image, a remix, the model is not on disk (and ``download`` is off), or it is not an
                image-to-video pipeline this backend drives.
        """
        warnings: list[str] = []
        if not self._warned:
            self._warned = True
            for key in sorted(set(self.config) - CONFIG_KEYS):
                close = difflib.get_close_matches(key, sorted(CONFIG_KEYS), n=1)
                warnings.append(f"backend.{key} is not a diffusers backend setting and is ignored"
                                + (f" (did you mean {close[0]!r}?)" if close else ""))
            if self._device() == "cpu":
                warnings.append("no GPU found: the diffusers backend renders on the CPU, which takes hours per clip "
                                "with a full-size model (set backend.device, or use a smaller model)")
        self._check_request(request)
        family = self._resolve_family(request.shot_id)
        frames = family.frames_for(request.seconds, self._fps(family))
        if frames > family.max_frames:
            warnings.append(f"{request.seconds:g} s is {frames} frames: {family.class_name} is meant for at most "
                            f"{family.max_frames}; expect drift or run out of memory (shorten the shot)")
        return warnings

    def render(self, request: RenderRequest, dest: Path, ctx: RenderContext) -> RenderResult:
        """Render ``request`` into ``dest`` with the pipeline, then sign it through ``ctx.signer``.

        Raises:
            RenderError: the request or model is not usable, the device ran out of memory, or the pipeline
                failed (its message is kept).
            BackendError: the render was cancelled (:meth:`interrupt`), with ``code='cancelled'``.
        """
        shot = request.shot_id
        self._check_request(request)
        if self._interrupt.is_set():
            raise BackendError(f"shot {shot!r}: cancelled", shot_id=shot, code="cancelled")
        started = time.monotonic()
        with self._lock:
            ctx.on_progress(shot, "loading", None)
            pipe, family = self._load(shot)
            fps = self._fps(family)
            width, height = self._render_size(family, pipe, request)
            frames_n = family.frames_for(request.seconds, fps)
            steps = self.steps or family.steps
            ctx.on_progress(shot, "rendering", 0.0)
            frames = self._generate(pipe, family, request, width, height, frames_n, steps, ctx)
        ctx.on_progress(shot, "encoding", None)
        self._encode(frames, dest, fps)
        info: dict[str, Any] = {
            "backend": self.name, "model": self.model, "pipeline": family.class_name, "device": self._device(),
            "dtype": self._dtype_name(), "size": f"{width}x{height}", "frames": int(frames.shape[0]), "fps": fps,
            "steps": steps, "guidance": self.guidance if self.guidance is not None else family.guidance,
            "seed": int(request.seed), "render_s": round(time.monotonic() - started, 3),
        }
        if ctx.signer is not None:
            # the manifest names the model: the generator string carries version(), and the action's
            # parameters carry request.model, which the recipe may have left to the backend's default
            ctx.signer(dest, replace(request, model=request.model or self.model), info)
            info["provenance"] = "reelpipe"
        ctx.on_progress(shot, "done", 1.0)
        return RenderResult(path=dest, info=info)

    def interrupt(self) -> None:
        """Stop the render in progress at its next denoising step (from any thread); it fails with
        ``code='cancelled'``, as do renders started afterwards until :meth:`reset_interrupt`."""
        self._interrupt.set()

    def reset_interrupt(self) -> None:
        """Allow renders again after :meth:`interrupt`."""
        self._interrupt.clear()

    def close(self) -> None:
        """Drop the pipeline and free the device's memory."""
        with self._lock:
            self._pipe = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - torch was there at construction
            pass

    # -- model resolution ----------------------------------------------------------------------------

    def _local_dir(self) -> Path | None:
        """The model as a folder on disk, if ``model`` names one (absolute, or relative to the recipe)."""
        candidates = [Path(self.model).expanduser()]
        if self.recipe_dir is not None and not Path(self.model).is_absolute():
            candidates.insert(0, self.recipe_dir / self.model)
        for c in candidates:
            if c.is_dir():
                return c.resolve()
        return None

    def _read_model_index(self, shot: str) -> dict[str, Any]:
        """``model_index.json`` from the folder or the Hugging Face cache (never the network unless
        ``download``)."""
        if self._model_index is not None:
            return self._model_index
        local = self._local_dir()
        index_path: Path | None = None
        if local is not None:
            index_path = local / "model_index.json"
            self._source = str(local)
            if not index_path.is_file():
                raise RenderError(f"shot {shot!r}: {local} has no model_index.json: not a diffusers pipeline folder",
                                  shot_id=shot, hint="point backend.model at a folder saved with save_pretrained, "
                                                     "or at a Hub repo id such as " + DEFAULT_MODEL)
        else:
            if "/" not in self.model or self.model.startswith((".", "/", "~")):
                raise RenderError(f"shot {shot!r}: model folder not found: {self.model}", shot_id=shot,
                                  hint="check backend.model (a folder is relative to the recipe)")
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(self.model, "model_index.json")
            if isinstance(cached, str):
                index_path = Path(cached)
            elif self.download:
                from huggingface_hub import hf_hub_download

                try:
                    index_path = Path(hf_hub_download(self.model, "model_index.json"))
                except Exception as exc:  # noqa: BLE001 - any hub failure becomes a clear render error
                    raise RenderError(f"shot {shot!r}: could not fetch {self.model} from the Hugging Face Hub: "
                                      f"{type(exc).__name__}: {exc}", shot_id=shot,
                                      hint="check the repo id and your network, or download it yourself") from None
            else:
                raise RenderError(
                    f"shot {shot!r}: {self.model} is not in the Hugging Face cache (reelpipe does not download "
                    "model weights unless asked)", shot_id=shot,
                    hint=f"hf download {self.model} (tens of GB), or set backend.download: true, or point "
                         "backend.model at a local folder")
            self._source = self.model
        try:
            data = json.loads(index_path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise RenderError(f"shot {shot!r}: cannot read {index_path}: {exc}", shot_id=shot) from None
        if not isinstance(data, dict):
            raise RenderError(f"shot {shot!r}: {index_path} is not a model index", shot_id=shot)
        self._model_index = data
        return data

    def _resolve_family(self, shot: str) -> PipelineFamily:
        if self._family is not None:
            return self._family
        index = self._read_model_index(shot)
        class_name = str(index.get("_class_name") or "")
        name = self.pipeline_choice
        if name == "auto":
            if class_name.startswith("Wan") and "Video2Video" not in class_name and "VACE" not in class_name:
                name = "wan"
            elif class_name.startswith("LTX"):
                name = "ltx"
            elif class_name.startswith("StableVideoDiffusion"):
                name = "svd"
            else:
                raise RenderError(
                    f"shot {shot!r}: {self.model} is a {class_name or 'unknown'} pipeline, not an image-to-video "
                    "pipeline this backend drives", shot_id=shot,
                    hint="use a Wan, LTX-Video or Stable Video Diffusion model, or set backend.pipeline")
        family = FAMILIES[name]
        if name == "wan" and index.get("expand_timesteps"):
            family = replace(family, fps=24, max_area=1280 * 704, max_frames=121, steps=50)  # Wan 2.2 TI2V-5B
        self._family = family
        return family

    # -- rendering -----------------------------------------------------------------------------------

    def _device(self) -> str:
        if self.device_choice != "auto":
            return self.device_choice
        import torch

        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"

    def _dtype_name(self) -> str:
        if self.dtype_choice != "auto":
            return self.dtype_choice
        device = self._device()
        return "bfloat16" if device.startswith("cuda") else "float16" if device == "mps" else "float32"

    def _fps(self, family: PipelineFamily) -> int:
        return self.fps_override or family.fps

    def _load(self, shot: str) -> tuple[Any, PipelineFamily]:
        """Load the pipeline once (called under the lock)."""
        family = self._resolve_family(shot)
        if self._pipe is not None:
            return self._pipe, family
        if family.name == "wan" and importlib.util.find_spec("ftfy") is None:
            raise RenderError(f"shot {shot!r}: Wan pipelines clean prompts with ftfy, which is not installed",
                              shot_id=shot, hint="pip install ftfy")
        import diffusers
        import torch

        dtype = getattr(torch, self._dtype_name())
        source = self._source or self.model
        kwargs: dict[str, Any] = {"torch_dtype": dtype}
        if self._local_dir() is None:
            kwargs["local_files_only"] = not self.download
        cls = getattr(diffusers, family.class_name)
        try:
            if family.name == "wan" and self.vae_dtype_choice not in ("auto", self._dtype_name()):
                # Wan's VAE in float32 gives cleaner frames than in bfloat16, for little memory
                vae_kwargs = {k: v for k, v in kwargs.items() if k != "torch_dtype"}
                vae = diffusers.AutoencoderKLWan.from_pretrained(  # type: ignore[no-untyped-call]
                    source, subfolder="vae", torch_dtype=getattr(torch, self.vae_dtype_choice), **vae_kwargs)
                kwargs["vae"] = vae
            with warnings.catch_warnings():  # newer diffusers renamed torch_dtype to dtype; 0.33 knows only the first
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipe = cls.from_pretrained(source, **kwargs)
            if self.cpu_offload == "model":
                pipe.enable_model_cpu_offload()
            elif self.cpu_offload == "sequential":
                pipe.enable_sequential_cpu_offload()
            else:
                pipe.to(self._device())
        except (OSError, ValueError, RuntimeError, TypeError) as exc:
            raise RenderError(f"shot {shot!r}: could not load {self.model} as {family.class_name}: "
                              f"{type(exc).__name__}: {str(exc)[:400]}", shot_id=shot,
                              hint="check backend.model and backend.pipeline; with device cuda, that torch has CUDA"
                              ) from None
        pipe.set_progress_bar_config(disable=True)
        self._pipe = pipe
        log.info("diffusers: loaded %s (%s) on %s as %s", self.model, family.class_name, self._device(),
                 self._dtype_name())
        return pipe, family

    def _render_size(self, family: PipelineFamily, pipe: Any, request: RenderRequest) -> tuple[int, int]:
        """The size to render at: ``size``, or the shot's aspect ratio within ``max_area``, in multiples of the
        model's block size (VAE downscale times transformer patch)."""
        multiple = self._multiple(family, pipe)
        if self.size is not None:
            w, h = self.size
            if w % multiple or h % multiple:
                raise RenderError(f"shot {request.shot_id!r}: backend.size {w}x{h} must be in multiples of "
                                  f"{multiple} for {family.class_name}", shot_id=request.shot_id)
            return w, h
        area = self.max_area or family.max_area
        aspect = request.width / float(request.height)
        exact_h = math.sqrt(area / aspect)
        exact_w = exact_h * aspect
        # nearest multiples keep the aspect ratio; step the longer side down while that overshoots the area
        rw, rh = (max(multiple, round(v / multiple) * multiple) for v in (exact_w, exact_h))
        while rw * rh > area * 1.05 and max(rw, rh) > multiple:
            if rw >= rh:
                rw -= multiple
            else:
                rh -= multiple
        return rw, rh

    @staticmethod
    def _multiple(family: PipelineFamily, pipe: Any) -> int:
        if family.name == "wan":
            spatial = int(getattr(pipe, "vae_scale_factor_spatial", 8))
            transformer = getattr(pipe, "transformer", None) or getattr(pipe, "transformer_2", None)
            patch = transformer.config.patch_size[1] if transformer is not None else 2
            return spatial * int(patch)
        if family.name == "ltx":
            return int(getattr(pipe, "vae_spatial_compression_ratio", 32))
        return int(getattr(pipe, "vae_scale_factor", 8))

    def _image(self, request: RenderRequest, width: int, height: int) -> Any:
        """The reference image fitted (cover: centre crop; contain: pad) to the render size, as PIL RGB."""
        import cv2
        from PIL import Image

        from pipeline.backends.openai import fit_reference_image

        assert request.image is not None
        fitted = fit_reference_image(request.image, width, height, mode=self.fit)
        import numpy as np

        bgr = cv2.imdecode(np.frombuffer(fitted.data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:  # pragma: no cover - fit_reference_image encoded it just now
            raise RenderError(f"shot {request.shot_id!r}: could not decode the fitted image", shot_id=request.shot_id)
        return Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def _generate(self, pipe: Any, family: PipelineFamily, request: RenderRequest, width: int, height: int,
                  frames_n: int, steps: int, ctx: RenderContext) -> Any:
        import numpy as np
        import torch

        shot = request.shot_id
        image = self._image(request, width, height)
        generator = torch.Generator(device="cpu").manual_seed(int(request.seed))
        guidance = self.guidance if self.guidance is not None else family.guidance

        def on_step(pipeline: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
            if self._interrupt.is_set():
                raise _Interrupted()
            ctx.on_progress(shot, "rendering", min(1.0, (step + 1) / steps))
            return callback_kwargs

        kwargs: dict[str, Any] = {"image": image, "height": height, "width": width, "num_frames": frames_n,
                                  "num_inference_steps": steps, "generator": generator, "output_type": "np",
                                  "callback_on_step_end": on_step}
        if family.takes_prompt:
            kwargs |= {"prompt": request.prompt, "guidance_scale": guidance}
            if self.negative_prompt:
                kwargs["negative_prompt"] = self.negative_prompt
        if family.name == "ltx":
            kwargs["frame_rate"] = self._fps(family)
        if family.name == "svd":
            kwargs |= {"fps": self._fps(family), "max_guidance_scale": guidance, "decode_chunk_size": 8}
        try:
            with torch.inference_mode():
                out = pipe(**kwargs)
        except _Interrupted:
            raise BackendError(f"shot {shot!r}: the render was cancelled", shot_id=shot, code="cancelled",
                               hint="run again to render it") from None
        except (RuntimeError, ValueError, TypeError) as exc:
            text = str(exc)
            if "out of memory" in text.lower() or type(exc).__name__ == "OutOfMemoryError":
                raise RenderError(f"shot {shot!r}: the device ran out of memory rendering {width}x{height}, "
                                  f"{frames_n} frames", shot_id=shot,
                                  hint="set backend.cpu_offload: model (or sequential), lower backend.max_area, or "
                                       "shorten the shot") from None
            raise RenderError(f"shot {shot!r}: {family.class_name} failed: {type(exc).__name__}: {text[:400]}",
                              shot_id=shot, hint="run with --debug for the traceback") from None
        frames = np.asarray(out.frames[0] if isinstance(out.frames, (list, tuple)) or getattr(out.frames, "ndim", 0) == 5
                            else out.frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise RenderError(f"shot {shot!r}: {family.class_name} returned frames of shape {frames.shape}",
                              shot_id=shot)
        if frames.dtype != np.uint8:
            frames = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return frames

    @staticmethod
    def _encode(frames: Any, dest: Path, fps: int) -> None:
        """Encode RGB frames to H.264 (the shared encoder settings) with a silent stereo track, like the local
        renderer's clips, so the edit stage treats every clip alike."""
        from pipeline.media.encode import AUDIO_RATE, EncodeSettings, audio_args, video_args
        from pipeline.media.ffmpeg import finish_ffmpeg_pipe, open_ffmpeg_pipe

        n, h, w = int(frames.shape[0]), int(frames.shape[1]), int(frames.shape[2])
        settings = EncodeSettings()
        args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0",
                "-f", "lavfi", "-i", f"anullsrc=r={AUDIO_RATE}:cl=stereo", "-map", "0:v", "-map", "1:a",
                "-t", f"{n / fps:.6f}", *video_args(settings, fps), *audio_args(settings), "-r", str(fps),
                "-frames:v", str(n), "-movflags", "+faststart", str(dest)]
        what = "encoding a diffusers render"
        proc = open_ffmpeg_pipe(args, what=what)
        assert proc.stdin is not None
        try:
            proc.stdin.write(frames.tobytes())
        except BrokenPipeError:
            pass  # ffmpeg died; finish_ffmpeg_pipe says why
        finally:
            finish_ffmpeg_pipe(proc, what=what)

    # -- checks --------------------------------------------------------------------------------------

    def _check_request(self, request: RenderRequest) -> None:
        shot = request.shot_id
        if request.remix_of:
            raise RenderError(f"shot {shot!r}: the diffusers backend cannot remix another shot", shot_id=shot,
                              hint="give the shot its own image: and prompt: instead of remix_of")
        if request.image is None:
            raise RenderError(f"shot {shot!r}: the diffusers backend renders image-to-video and needs an image",
                              shot_id=shot, hint="give the shot an image:")
        if not Path(request.image).is_file():
            raise RenderError(f"shot {shot!r}: reference image not found: {request.image}", shot_id=shot,
                              hint="check the shot's image: path")
