"""The page of `bigprior app` (gradio), over `session.py`: the only module of the package that imports gradio.

Each visitor is a `session.AppSession`, keyed by gradio's session id and closed when their tab closes
(`Blocks.unload`): their folder is removed and a run of theirs in flight stops at its next step. Restores
share one queue slot per server (`concurrency_limit=1`: one device), so a second visitor waits and sees
their place; re-blends and downloads do not wait behind restores. Errors a visitor can cause come back as
`gr.Error` messages, the notes of a restoration as warnings, and the server goes on serving.
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch

from ..degradations import restore_verbs
from ..demo import PHOTOS
from ..errors import BIGPriorError
from ..pipeline import INVERSION_STAGE
from .models import BUILT_IN, Models
from .session import AppSession, AppSettings, RestoreRequest, SessionClosed, Sessions, View

LAYERS = ("hole (inpainting)", "protect (phi = 0)", "prior region (phi = 1)")  # the editor's layers, in order
LAYER_FLAGS = ("mask", "protect", "prior_region")  # the restore flag of each layer
STAGES = {INVERSION_STAGE: ("inverting the generator", "steps")}  # any other stage: the fusion's tiles
MAX_UPLOAD = "256mb"
IMAGE_HEIGHT = 260  # of each shown image, in CSS pixels
STEER_CONCURRENCY = 4  # re-blends at a time (CPU work; restores wait apart, one at a time)
INTRO = """# BIGPrior: restore a photo with a generative prior
A GAN is inverted onto the photo (the *prior*); a fusion network decides per pixel how much of the result
comes from it (**phi**: 0 = the photo, 1 = the prior). Upload a photo or pick a sample, draw what to
inpaint or protect, restore; then steer the prior's share with the sliders (no new inversion)."""


def drawn_regions(editor: dict | None) -> dict[str, np.ndarray | None]:
    """The editor's layers as HxW bool masks by restore flag (None where a layer is missing)."""
    layers = (editor or {}).get("layers") or []
    regions: dict[str, np.ndarray | None] = dict.fromkeys(LAYER_FLAGS)
    for flag, layer in zip(LAYER_FLAGS, layers):
        if layer is not None:  # RGBA (the editor's image_mode): drawn where not transparent
            regions[flag] = np.asarray(layer)[..., 3] > 0
    return regions


def shown_outputs(session: AppSession, view: View) -> tuple:
    """restored, phi, overlay, shares (visible for a multi-source fusion), scores: the images as files the
    session wrote (gradio copies them into its cache without encoding them again)."""
    for note in view.notes:
        gr.Warning(note)
    files = {kind: str(path) if path else None for kind, path in session.shown_files(view).items()}
    shares = gr.update(value=files["shares"], visible=files["shares"] is not None)
    return files["restored"], files["phi"], files["overlay"], shares, view.scores


def page_errors(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A handler whose user errors come back as messages on the page (and a closed page's run as nothing)."""
    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except BIGPriorError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except torch.cuda.OutOfMemoryError:
            raise gr.Error("out of GPU memory: try a smaller photo, or start the app with a smaller --tile") from None
        except SessionClosed:
            return gr.skip()
    return wrapped


class Page:
    """The event handlers of one server, over its sessions."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    def session(self, request: gr.Request) -> AppSession:
        return self.sessions.get(request.session_hash)

    def take_photo(self, upload: str | None, sample: str | None, request: gr.Request) -> tuple:
        """A new photo (an upload, else a sample): the editor shows it, the former results go."""
        session = self.session(request)
        if upload:
            shown = session.take_upload(Path(upload), Path(upload).name)
        elif sample:
            shown = session.take_demo(sample)
        else:
            return gr.skip()
        editor = {"background": shown, "layers": [], "composite": None}
        taken = f"**{session.photo.name}**: {shown.shape[1]}x{shown.shape[0]} photo; draw on it, then restore"
        return editor, None, None, None, None, None, gr.update(value=None, visible=False), taken, None

    def restore(self, editor: dict | None, task: str, degrade: bool, generator: str, fusion: str, strength: float,
                cap: float, request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple:
        session = self.session(request)

        def report(stage: str, done: int, total: int) -> None:
            title, unit = STAGES.get(stage, ("fusion", "tiles"))
            progress((done, total), desc=f"{title}: {done}/{total} {unit}", unit=unit)

        ask = RestoreRequest(task, bool(degrade), None if generator == BUILT_IN else generator,
                             None if fusion == BUILT_IN else fusion, drawn_regions(editor), strength, cap)
        shown_input, prior, view, archive = session.restore(ask, report)
        return (shown_input, prior, *shown_outputs(session, view), str(archive))

    def steer(self, strength: float, cap: float, request: gr.Request) -> tuple:
        session = self.session(request)
        return (*shown_outputs(session, session.steer(strength, cap)), None)

    def steer_regions(self, editor: dict | None, strength: float, cap: float, request: gr.Request) -> tuple:
        session = self.session(request)
        return (*shown_outputs(session, session.steer(strength, cap, drawn_regions(editor))), None)

    def archive(self, request: gr.Request) -> str:
        return str(self.session(request).make_archive())

    def close(self, request: gr.Request) -> None:
        self.sessions.close(request.session_hash)


def build_page(sessions: Sessions) -> gr.Blocks:
    """The page: controls and the drawing editor, the shown images, the sliders, the archive."""
    page, models = Page(sessions), sessions.models
    with gr.Blocks(title="BIGPrior", analytics_enabled=False, delete_cache=(600, 3600)) as blocks:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.UploadButton("Upload a photo", type="filepath", elem_id="upload")
                sample = gr.Dropdown(list(PHOTOS), value=None, label="or a sample photo", elem_id="sample")
                task = gr.Radio(restore_verbs(), value="inpaint", label="task", elem_id="task")
                degrade = gr.Checkbox(False, label="simulate the degradation (the photo is clean: scores against it)",
                                      elem_id="degrade")
                generator = gr.Dropdown(models.generator_choices(), value=BUILT_IN, label="generator", elem_id="generator")
                fusion = gr.Dropdown(models.fusion_choices(), value=BUILT_IN, label="fusion network", elem_id="fusion")
                run = gr.Button("Restore", variant="primary", elem_id="restore")
            with gr.Column(scale=2):
                editor = gr.ImageEditor(label="draw on the photo: " + ", ".join(LAYERS), type="numpy", image_mode="RGBA",
                                        sources=(), transforms=(), format="png", elem_id="editor",
                                        layers=gr.LayerOptions(allow_additional_layers=False, layers=list(LAYERS)),
                                        brush=gr.Brush(colors=["#ff2020", "#20a0ff", "#20ff60"], color_mode="fixed"))
        with gr.Row():
            strength = gr.Slider(0, 1.5, value=1.0, step=0.01, label="prior strength S (phi' = S phi)", elem_id="strength")
            cap = gr.Slider(0, 1, value=1.0, step=0.01, label="cap C (phi' <= C)", elem_id="cap")
            apply_regions = gr.Button("Re-blend with the drawn protect / prior regions", elem_id="regions")
        with gr.Row():
            shown_input = gr.Image(label="input", format="png", interactive=False, height=IMAGE_HEIGHT, elem_id="shown_input")
            prior = gr.Image(label="prior", format="png", interactive=False, height=IMAGE_HEIGHT, elem_id="prior")
            restored = gr.Image(label="restored", format="png", interactive=False, height=IMAGE_HEIGHT, elem_id="restored")
            phi = gr.Image(label="phi (white: from the prior)", format="png", interactive=False, height=IMAGE_HEIGHT, elem_id="phi")
            overlay = gr.Image(label="phi over the result", format="png", interactive=False, height=IMAGE_HEIGHT, elem_id="overlay")
            shares = gr.Image(label="where pixels come from: data / classical / generative", format="png",
                              interactive=False, height=IMAGE_HEIGHT, visible=False,
                              elem_id="shares")
        scores = gr.Markdown(elem_id="scores")
        with gr.Row():
            make_archive = gr.Button("Archive of every output at these settings", elem_id="make_archive")
            archive = gr.File(label="every output of `bigprior restore` (zip)", interactive=False, elem_id="archive")
        steered = [restored, phi, overlay, shares, scores, archive]
        photo_outputs = [editor, shown_input, prior, *steered]
        upload.upload(page_errors(page.take_photo), [upload, gr.State(None)], photo_outputs, concurrency_limit=STEER_CONCURRENCY)
        sample.input(page_errors(page.take_photo), [gr.State(None), sample], photo_outputs, concurrency_limit=STEER_CONCURRENCY)
        run.click(page_errors(page.restore), [editor, task, degrade, generator, fusion, strength, cap],
                  [shown_input, prior, *steered], concurrency_limit=1, concurrency_id="device")
        for slider in (strength, cap):
            slider.change(page_errors(page.steer), [strength, cap], steered, trigger_mode="always_last",
                         show_progress="hidden", concurrency_limit=STEER_CONCURRENCY, concurrency_id="steer")
        apply_regions.click(page_errors(page.steer_regions), [editor, strength, cap], steered,
                            concurrency_limit=STEER_CONCURRENCY, concurrency_id="steer")
        make_archive.click(page_errors(page.archive), None, archive, concurrency_limit=STEER_CONCURRENCY)
        blocks.unload(page.close)
    return blocks


def serve(root: Path, settings: AppSettings, models: Models, host: str, port: int) -> None:
    """Serve the page until interrupted (Ctrl-C, SIGTERM); the sessions' folders lie under `root`."""
    sessions = Sessions(root / "sessions", settings, models)
    blocks = build_page(sessions)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        blocks.queue(default_concurrency_limit=STEER_CONCURRENCY).launch(
            server_name=host, server_port=port, share=False, allowed_paths=[], max_file_size=MAX_UPLOAD,
            ssr_mode=False, pwa=False, mcp_server=False, show_error=False, inbrowser=False, quiet=True,
            prevent_thread_lock=True)
        print(f"BIGPrior app: {blocks.local_url} (Ctrl-C stops it)", flush=True)
        blocks.block_thread()
    finally:
        sessions.close_all()
