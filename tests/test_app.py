"""`bigprior app` (issue 22): the web page over restore.

Without a browser: the command without gradio, the session logic (checks, restore through restore's own
parser and functions, re-blend, the archive and its command line, a closed page, the models offered).
In a real browser (Playwright driving Debian's /usr/bin/chromium) against the app started as a
subprocess on a free loopback port with tiny settings: a drawn hole inpainted bit for bit as `bigprior
restore` does with the archive's command line, the strength slider showing `Restoration.reblend` of the
CLI's saved state, the progress shown, the bad inputs' messages, a tab closed mid-run, and the file
route refusing files outside the server's cache. Outside CI a missing gradio, Playwright or Chromium
skips the browser tests with the reason; under CI (CI=true) it fails them.

`BIGPRIOR_APP_SCREENSHOT=docs/app.png python -m pytest -q tests/test_app.py` also writes the README's
screenshot.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shlex
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data

from bigprior import imageio
from bigprior.app.cli import main as app_main
from bigprior.app.models import BUILT_IN, find_models
from bigprior.app.session import AppSession, AppSettings, RestoreRequest, SessionClosed, Sessions, command_line
from bigprior.commandline import run_cli
from bigprior.errors import BIGPriorError
from bigprior.restoration import SourceKind
from bigprior.restoration import Steering
from bigprior.restore import main as restore_main
from bigprior.writer import phi_heat, phi_overlay, read_restoration
from app_browser import (CHROMIUM, CHROMIUM_FLAGS, draw_stroke, fetch, message, open_page, set_strength, shown_image,
                         start_server, stop_server, upload, upload_photo)
from conftest import CODE, ROOT

SCREENSHOT = ROOT / "docs" / "app.png"
MAX_PIXELS = 10_000  # the browser tests' server: the 96x72 photo fits, a 128x96 one does not
ITERATIONS = 4


def cat(height: int = 72, width: int = 96) -> np.ndarray:
    """A small colour photo (scikit-image's cat), uint8."""
    image = skimage_data.chelsea()
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BOX))


def save(path: Path, image: np.ndarray) -> Path:
    Image.fromarray(image).save(path)
    return path


def unzip(archive: bytes | Path, folder: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(archive) if isinstance(archive, bytes) else archive) as zipped:
        zipped.extractall(folder)
    return folder


def run_archived_command(folder: Path) -> Path:
    """Run, in-process, the `bigprior restore` command an archive holds, in the unzipped folder; its output folder."""
    command = next(folder.glob("*_command.txt")).read_text().strip()
    argv = shlex.split(command)[2:]
    for flag in ("--input", "--mask", "--protect", "--prior_region", "--out"):
        if flag in argv:
            argv[argv.index(flag) + 1] = str(folder / argv[argv.index(flag) + 1])
    assert run_cli(restore_main, argv) == 0
    return folder / "results"


def assert_same_files(made: Path, expected: Path) -> None:
    """Every file restore wrote for the photo in `expected` is in `made`, byte for byte (the run's own
    files, restore_settings.json and summary.csv with its timings, are not the photo's)."""
    names = sorted(p.name for p in expected.iterdir() if p.name.startswith("cat_"))
    assert names and "cat_restored.png" in names
    for name in names:
        assert (made / name).read_bytes() == (expected / name).read_bytes(), name


# ---------------------------------------------------------------------------------------------
# the command, without gradio


def test_app_without_gradio_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio fails, find_spec says None
    assert importlib.util.find_spec("gradio") is None
    assert run_cli(app_main, ["--port", "7861"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install 'bigprior[app]'" in err
    with pytest.raises(SystemExit) as done:
        app_main(["--help"])
    assert done.value.code == 0 and "usage: bigprior app" in capsys.readouterr().out.replace("\n", " ")


def test_bigprior_app_is_a_command():
    usage = subprocess.run([sys.executable, "-m", "bigprior.cli", "app", "--help"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(CODE)}, timeout=120)
    assert usage.returncode == 0 and "--max_pixels" in usage.stdout and "127.0.0.1" in usage.stdout


# ---------------------------------------------------------------------------------------------
# the session logic, without a browser


@pytest.fixture
def session(tmp_path: Path) -> AppSession:
    return AppSession(tmp_path / "session", AppSettings(device="cpu", iterations=2, max_pixels=MAX_PIXELS), find_models(None))


def test_a_photo_is_checked_when_it_comes(session, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(BIGPriorError, match="notes.png: not an image this app can read"):
        session.take_upload(text, "notes.png")
    with pytest.raises(BIGPriorError, match=r"big.png: 128x96 is 12,288 pixels, more than this server's 10,000"):
        session.take_upload(save(tmp_path / "big.png", cat(96, 128)), "big.png")
    shown = session.take_upload(save(tmp_path / "cat.png", cat()), "my cat?.png")
    assert shown.shape == (72, 96, 3) and session.photo.name == "my_cat_.png"
    assert session.photo.is_relative_to(session.folder)


def test_bad_requests_are_one_clear_message(session, tmp_path):
    with pytest.raises(BIGPriorError, match="no photo yet"):
        session.restore(RestoreRequest("inpaint"))
    session.take_upload(save(tmp_path / "cat.png", cat()), "cat.png")
    with pytest.raises(BIGPriorError, match="inpainting needs the holes"):
        session.restore(RestoreRequest("inpaint", regions={"mask": np.zeros((72, 96), bool)}))
    with pytest.raises(BIGPriorError, match="drawn on a 100x72 canvas, off the 96x72 photo"):
        session.restore(RestoreRequest("inpaint", regions={"mask": np.ones((72, 100), bool)}))
    with pytest.raises(BIGPriorError, match="not one of the models this server offers"):
        session.restore(RestoreRequest("denoise", generator="/etc/passwd"))
    with pytest.raises(BIGPriorError, match="nothing to re-blend yet"):
        session.steer(0.5, 1.0)
    session.take_upload(save(tmp_path / "gray.png", cat()[:, :, 0]), "gray.png")
    with pytest.raises(BIGPriorError, match=r"^gray.png: grayscale image; .* expects an RGB photo"):
        session.restore(RestoreRequest("denoise"))


def test_the_sessions_restoration_is_the_clis_bit_for_bit(session, tmp_path):
    session.take_upload(save(tmp_path / "cat.png", cat()), "cat.png")
    protect, prior_region = np.zeros((72, 96), bool), np.zeros((72, 96), bool)
    protect[:10], prior_region[30:40, 40:60] = True, True
    calls = []
    shown_input, prior, view, archive = session.restore(
        RestoreRequest("denoise", degrade=True, regions={"protect": protect, "prior_region": prior_region},
                       prior_strength=0.8), lambda *call: calls.append(call))
    assert calls[0] == ("inversion", 1, 2) and calls[-1] == ("fusion", 1, 1)
    assert shown_input.shape == prior.shape == view.restored.shape == (72, 96, 3)
    assert "| bigprior |" in view.scores and "PSNR" in view.scores  # scores against the clean photo
    folder = unzip(archive, tmp_path / "archive")
    command = next(folder.glob("*_command.txt")).read_text()
    assert "--degrade True" in command and "--prior_region cat_prior_region.png" in command
    assert "--protect cat_protect.png" in command and "--prior_strength 0.8" in command
    assert_same_files(folder, run_archived_command(folder))
    assert np.array_equal(view.restored, imageio.read_rgb(folder / "cat_restored.png"))

    # a slider move re-blends the kept restoration: it shows, and archives, the CLI's with that strength
    steered = session.steer(1.3, 0.7)
    again = unzip(session.make_archive(), tmp_path / "again")
    assert "--prior_strength 1.3 --max_phi 0.7" in next(again.glob("*_command.txt")).read_text()
    cli = run_archived_command(again)
    assert_same_files(again, cli)
    assert np.array_equal(steered.restored, imageio.read_rgb(cli / "cat_restored.png"))
    assert np.array_equal(steered.phi, imageio.read_gray(cli / "cat_phi.png"))
    assert not np.array_equal(steered.restored, view.restored)
    # new protect / prior regions re-blend too, without a new inversion
    regions = session.steer(1.0, 1.0, {"protect": np.ones((72, 96), bool), "prior_region": None})
    shown = session.shown  # protected everywhere: no generative share anywhere
    generative = [k for k, source in enumerate(shown.sources) if source.kind is SourceKind.GENERATIVE]
    assert generative and not shown.shares[generative].any()
    if len(shown.sources) == 1:  # the paper's fusion: the observation itself
        assert not regions.phi.any() and np.array_equal(regions.restored, imageio.read_rgb(folder / "cat_input.png"))
    else:  # a multi-source network (the built-in denoiser): the observation and the classical sources, as before
        assert np.array_equal(regions.restored, imageio.uint8_from_float(shown.restored))
        assert not np.array_equal(regions.restored, steered.restored)
        classical = [k for k in range(len(shown.sources)) if k not in generative]
        before = session.base.shares
        kept = before[classical] / np.maximum(1 - before[generative].sum(axis=0), 1e-12)
        assert np.allclose(shown.shares[classical], kept, atol=1e-5)


def test_a_closed_page_stops_its_run_and_removes_its_files(session, tmp_path):
    session.take_upload(save(tmp_path / "cat.png", cat()), "cat.png")

    def close_at_first_step(stage: str, done: int, total: int) -> None:
        session.close()

    with pytest.raises(SessionClosed):
        session.restore(RestoreRequest("denoise"), close_at_first_step)
    assert not session.folder.exists()
    with pytest.raises(SessionClosed):
        session.take_demo("astronaut")


def test_a_multi_source_restoration_shows_where_pixels_come_from(session):
    """The share picture (data / classical / generative) beside phi, as the writer makes it, in a file."""
    import torch

    from bigprior.degradations import Observation
    from bigprior.restoration import GAN_PRIOR, Restoration, Source, SourceKind, blend, share_picture

    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(3), (20, 30)).astype(np.float32)  # observation, prior, NL-means
    shares = weights[..., 1:].transpose(2, 0, 1)[..., None]
    images = [rng.integers(0, 256, (20, 30, 3)).astype(np.uint8) for _ in range(2)]
    observation = Observation(x=torch.rand(3, 20, 30))
    sources = (GAN_PRIOR, Source("nlmeans", SourceKind.CLASSICAL, "NL-means"))
    r = Restoration(observation, sources, images, shares, np.clip(blend(observation, images, shares), 0, 1), 64)
    session.base = r
    view = session.steer(0.5, 1.0)
    assert np.array_equal(view.shares, share_picture(r.reblend(Steering(0.5)).kind_shares()))
    files = session.shown_files(view)
    assert np.array_equal(np.asarray(Image.open(files["shares"]).convert("RGB")), view.shares)  # lossless
    assert np.array_equal(np.asarray(Image.open(files["restored"]).convert("RGB")), view.restored)


def test_sessions_are_apart(tmp_path):
    sessions = Sessions(tmp_path / "root", AppSettings(), find_models(None))
    one, other = sessions.get("visitor-1"), sessions.get("visitor-2")
    assert one is sessions.get("visitor-1") and one.folder != other.folder and len(sessions) == 2
    assert "visitor" not in one.folder.name  # folders are not named by the page's session id
    one.take_demo("coffee")
    assert other.photo is None and one.photo.name == "coffee.png"
    sessions.close("visitor-1")
    assert not one.folder.exists() and other.folder.exists() and len(sessions) == 1
    sessions.close_all()
    assert not other.folder.exists()


def test_models_are_found_under_the_weights_folder(tmp_path):
    run = tmp_path / "net_data" / "inpvar_bedroom_3"
    run.mkdir(parents=True)
    (run / "OURargs.txt").write_text("")
    (run / "net_5.pth").write_bytes(b"")
    (tmp_path / "pggan_bedroom256_generator.pth").write_bytes(b"")
    models = find_models(tmp_path)
    assert models.fusion_runs == (run,) and models.generators == (tmp_path / "pggan_bedroom256_generator.pth",)
    assert models.generator_choices()[0][1] == BUILT_IN and models.check(BUILT_IN, "generator") is None
    assert models.check(str(run), "fusion run") == str(run)
    assert command_line(["--task", "inpaint", "--input", "/x/y/cat.png"]) == "bigprior restore --task inpaint --input cat.png"


def test_the_readme_screenshot_is_small():
    assert SCREENSHOT.is_file() and SCREENSHOT.stat().st_size < 300_000
    assert "docs/app.png" in (ROOT / "README.md").read_text()


# ---------------------------------------------------------------------------------------------
# in a real browser


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI must run the browser tests)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app as a subprocess on a free loopback port; its temporary folder lies in the test's folder."""
    for module in ("gradio", "playwright"):
        if importlib.util.find_spec(module) is None:
            skip_or_fail(f"{module} is not installed (pip install -r requirements.txt)")
    if not os.access(CHROMIUM, os.X_OK):
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("app")
    server = start_server(tmp, ITERATIONS, MAX_PIXELS)
    yield server
    stop_server(server)
    assert not list(tmp.glob("bigprior-app-*")), "the server left its temporary folder behind"


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def restored_page(browser, server, tmp_path_factory):
    """A page where a drawn hole was inpainted, the archive downloaded and the CLI run with its command."""
    tmp = tmp_path_factory.mktemp("page")
    page = open_page(browser, server)
    upload_photo(page, save(tmp / "cat.png", cat()))
    draw_stroke(page)
    page.click("#restore")
    archive_link = page.locator("#archive a").first
    archive_link.wait_for(timeout=90_000)
    status, archive = fetch(archive_link.get_attribute("href"))
    assert status == 200
    folder = unzip(archive, tmp / "archive")
    cli_out = run_archived_command(folder)
    page.screenshot(path=str(tmp / "restored.png"), full_page=True)
    yield page, folder, cli_out
    page.close()


def test_the_page_inpaints_a_drawn_hole_as_the_cli_does(restored_page, server):
    page, folder, cli_out = restored_page
    mask = imageio.read_gray(folder / "cat_mask.png") > 127
    assert 20 < mask.sum() < mask.size / 2  # the stroke, on the photo
    assert_same_files(folder, cli_out)  # every file of the archive is the CLI's, byte for byte
    _, restored = shown_image(page, "restored")
    assert np.array_equal(restored, imageio.read_rgb(cli_out / "cat_restored.png"))
    seen = " ".join(page.evaluate("window.seen"))
    assert "inverting the generator" in seen and f"/{ITERATIONS} steps" in seen, seen[-500:]
    assert "fusion" in seen


def test_the_strength_slider_re_blends_the_saved_state(restored_page, server):
    """Inpainted with the known pixels kept and no classical source, only phi (and so the overlay) moves
    with the strength; the restored image is the formula's all the same (the session's tests move it)."""
    page, folder, cli_out = restored_page
    phi_src, _ = shown_image(page, "phi")
    overlay_src, _ = shown_image(page, "overlay")
    set_strength(page, 0.5)
    _, phi = shown_image(page, "phi", previous=phi_src)
    _, overlay = shown_image(page, "overlay", previous=overlay_src)
    _, restored = shown_image(page, "restored")
    expected = read_restoration(cli_out / "cat").reblend(Steering(0.5, 1.0))
    assert np.array_equal(phi[:, :, 0], phi_heat(expected.phi))
    assert np.array_equal(overlay, phi_overlay(expected.restored, phi_heat(expected.phi)))
    assert np.array_equal(restored, imageio.uint8_from_float(expected.restored))
    page.screenshot(path=str(cli_out.parent / "steered.png"), full_page=True)
    if os.environ.get("BIGPRIOR_APP_SCREENSHOT"):
        shot = Path(os.environ["BIGPRIOR_APP_SCREENSHOT"])
        page.screenshot(path=str(shot), full_page=True)
        Image.open(shot).convert("RGB").quantize(64).save(shot, optimize=True)


def test_bad_input_gets_a_message_and_the_server_goes_on(browser, server, tmp_path):
    page = open_page(browser, server)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    upload(page, text)
    assert "notes.png: not an image this app can read" in message(page, "not an image")
    upload(page, save(tmp_path / "big.png", cat(96, 128)))
    assert "more than this server's 10,000 (--max_pixels)" in message(page, "max_pixels")
    upload_photo(page, save(tmp_path / "cat.png", cat()))
    page.click("#restore")  # inpainting, nothing drawn
    assert "draw them on the photo" in message(page, "inpainting needs the holes")
    upload_photo(page, save(tmp_path / "gray.png", cat()[:, :, 0]))
    page.locator("#task").get_by_text("denoise").click()
    page.click("#restore")
    assert message(page, "grayscale").startswith("gray.png: grayscale image")
    page.screenshot(path=str(tmp_path / "bad_input.png"), full_page=True)
    page.close()
    assert fetch(server["url"])[0] == 200


def test_a_tab_closed_mid_run_is_cleaned_up(browser, server, tmp_path):
    sessions = next(server["tmp"].glob("bigprior-app-*")) / "sessions"
    before = set(sessions.iterdir())
    page = open_page(browser, server)
    upload_photo(page, save(tmp_path / "cat.png", cat()))
    page.locator("#task").get_by_text("denoise").click()
    page.click("#restore")
    page.wait_for_function("() => window.seen.length > 0", timeout=60_000)  # the run has started: close it mid-run
    mine = set(sessions.iterdir()) - before
    assert len(mine) == 1
    page.close()
    deadline = time.monotonic() + 30
    while next(iter(mine)).exists():
        assert time.monotonic() < deadline, f"the closed page's folder is still there: {sorted(p.relative_to(sessions) for p in sessions.rglob('*'))}"
        time.sleep(0.2)
    other = open_page(browser, server)  # the server goes on: another visitor restores
    upload_photo(other, save(tmp_path / "cat.png", cat()))
    other.locator("#task").get_by_text("colorize").click()
    other.click("#restore")
    other.locator("#archive a").first.wait_for(timeout=90_000)
    other.close()


def test_the_file_route_serves_nothing_outside_the_cache(restored_page, server):
    page, folder, _ = restored_page
    base = server["url"].rstrip("/")
    for route in ("/gradio_api/file=", "/file="):
        status, body = fetch(f"{base}{route}/etc/passwd")
        assert status in (403, 404) and b"root:" not in body, (route, status)
    photo = next(next(server["tmp"].glob("bigprior-app-*")).glob("sessions/*/photo-*/cat.png"))  # the server's copy
    status, _ = fetch(f"{base}/gradio_api/file={photo}")
    assert status in (403, 404)
    status, _ = fetch(f"{base}/gradio_api/file={folder / 'cat_restored.png'}")
    assert status in (403, 404)
