"""Re-blend latency of `bigprior app`: a slider move -> the updated images, for a 1 MP and a 12 MP photo.

    python benchmarks/reblend_latency.py                 # the server's side, 1 MP and 12 MP
    python benchmarks/reblend_latency.py --page 1        # also through the page (Chromium), for a 1 MP photo

The server's side: an `AppSession` keeps a restoration of the photo's size (the paper's two-source fusion:
an observation, a prior, phi; made here from a sample photo, with a smooth phi, since a re-blend does
not depend on how they were made) and each slider move is `AppSession.steer` (a full-size
`Restoration.reblend`, the shown images shrunk to --display_side) plus what gradio does with the three
images that change (restored, phi, overlay): `AppSession.shown_files` writes them as PNGs and gradio copies
each into its cache (`processing_utils.save_file_to_cache`). Through the page (--page SIZES, in MP): the app is
started on a loopback port, the photo restored through the page (the real pipeline, --iterations 2),
and the time is measured in the browser from typing a new strength until the new phi image has loaded.

Goals (issue 22): under 0.3 s at 1 MP, under 2 s at 12 MP.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "code"))

from bigprior import imageio  # noqa: E402
from bigprior.app.models import Models  # noqa: E402
from bigprior.app.session import DISPLAY_SIDE, AppSession, AppSettings  # noqa: E402
from bigprior.degradations import Observation  # noqa: E402
from bigprior.restoration import GAN_PRIOR, Restoration, blend  # noqa: E402

SIZES = {1: (1152, 864), 12: (4000, 3000)}  # megapixels -> (width, height)
STRENGTHS = (0.5, 1.2, 0.8, 1.5, 0.3, 0.9)


def sample_photo(width: int, height: int) -> np.ndarray:
    """scikit-image's astronaut enlarged to the size (uint8 RGB)."""
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.BICUBIC))


def restoration_of(width: int, height: int) -> Restoration:
    """A two-source restoration of that size: the photo with noise as the observation, a blurred copy as
    the prior, a smooth phi in [0, 1]."""
    clean = imageio.float_from_uint8(sample_photo(width, height))
    rng = np.random.default_rng(0)
    x = np.clip(clean + rng.normal(0, 0.1, clean.shape).astype(np.float32), 0, 1)
    prior = np.asarray(Image.fromarray(imageio.uint8_from_float(clean)).resize((width // 16, height // 16), Image.BOX)
                       .resize((width, height), Image.BICUBIC))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phi = (0.5 + 0.4 * np.sin(xx / 97) * np.cos(yy / 131))[None, :, :, None].repeat(3, axis=3).astype(np.float32)
    observation = Observation(x=imageio.hwc_to_chw(x))
    return Restoration(observation, (GAN_PRIOR,), [prior], phi, np.clip(blend(observation, [prior], phi), 0, 1), 64)


def to_cache():
    """What gradio does with a returned image file: a copy in its cache, named by its hash (nothing without gradio)."""
    try:
        from gradio.processing_utils import save_file_to_cache
    except ImportError:
        return lambda path: None
    cache = tempfile.mkdtemp(prefix="reblend-latency-")
    return lambda path: save_file_to_cache(path, cache)


def server_side(megapixels: int, repeats: int, display_side: int) -> dict:
    """Seconds of `AppSession.steer` and of steer + the shown images' files (written, copied into gradio's cache) per
    slider move: the median and the least wall-clock time, and the median CPU time of this process (all of
    it single-threaded: on a CPU shared with other jobs, what the wall-clock time would be on an idle one)."""
    width, height = SIZES[megapixels]
    with tempfile.TemporaryDirectory() as folder:
        session = AppSession(Path(folder) / "session", AppSettings(display_side=display_side), Models())
        session.base = restoration_of(width, height)
        cache = to_cache()
        times: dict[str, list[float]] = {"steer": [], "steer_cpu": [], "total": [], "total_cpu": []}
        for k in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            view = session.steer(STRENGTHS[k % len(STRENGTHS)], 1.0)
            times["steer"].append(time.perf_counter() - start)
            times["steer_cpu"].append(time.process_time() - start_cpu)
            for path in session.shown_files(view).values():
                if path is not None:
                    cache(path)
            times["total"].append(time.perf_counter() - start)
            times["total_cpu"].append(time.process_time() - start_cpu)
    row = {key: statistics.median(values) for key, values in times.items()}
    row.update(steer_min=min(times["steer"]), total_min=min(times["total"]), megapixels=megapixels,
               size=f"{width}x{height}", shown=f"{view.restored.shape[1]}x{view.restored.shape[0]}")
    return row


def through_the_page(megapixels: int, repeats: int) -> float:
    """Median seconds from typing a strength to the new phi image loaded, in Chromium."""
    sys.path.insert(0, str(ROOT / "tests"))
    import app_browser  # the browser tests' server and page helpers
    from playwright.sync_api import sync_playwright

    width, height = SIZES[megapixels]
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "photo.png"
        Image.fromarray(sample_photo(width, height)).save(photo)
        server = app_browser.start_server(Path(folder), iterations=2, max_pixels=20_000_000)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=app_browser.CHROMIUM, args=app_browser.CHROMIUM_FLAGS)
                page = app_browser.open_page(browser, server)
                app_browser.upload(page, photo)
                page.locator("#editor canvas").first.wait_for()
                page.locator("#task").get_by_text("denoise").click()
                page.click("#restore")
                page.locator("#archive a").first.wait_for(timeout=1_800_000)
                times = [app_browser.time_strength(page, STRENGTHS[k % len(STRENGTHS)]) for k in range(repeats)]
                browser.close()
        finally:
            app_browser.stop_server(server)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,12", help="megapixels measured on the server's side (1, 12)")
    parser.add_argument("--page", default="", help="megapixels also measured through the page, e.g. 1 or 1,12")
    parser.add_argument("--repeats", type=int, default=6, help="slider moves per size (the median is reported)")
    parser.add_argument("--display_side", type=int, default=DISPLAY_SIDE)
    args = parser.parse_args(argv)
    print("seconds per slider move, median / least wall-clock time / median CPU time")
    print(f"{'photo':>16s} {'steer (reblend + shown images)':>30s} {'+ their files, in the cache':>28s} {'shown':>10s}")
    for megapixels in (int(m) for m in args.sizes.split(",") if m):
        r = server_side(megapixels, args.repeats, args.display_side)
        print(f"{r['megapixels']:>3d} MP {r['size']:>9s} {r['steer']:12.3f} /{r['steer_min']:6.3f} /{r['steer_cpu']:6.3f}   "
              f"{r['total']:12.3f} /{r['total_min']:6.3f} /{r['total_cpu']:6.3f} {r['shown']:>10s}", flush=True)
    for megapixels in (int(m) for m in args.page.split(",") if m):
        print(f"{megapixels:>3d} MP through the page: {through_the_page(megapixels, args.repeats):.3f} s "
              "(typed strength -> new phi image loaded)", flush=True)


if __name__ == "__main__":
    main()
