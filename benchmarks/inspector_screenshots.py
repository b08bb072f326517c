"""Screenshots at 1440x900 of the boundary inspector on the UnAV talk (../shared/data/unav, research-only:
read from there, never copied), into artifacts/browser/ (git-ignored):

- ``inspector_unav_top.png``: player, timeline with the ground-truth row and the edits row (the first
  segment accepted, the second one's start nudged 0.1 s later);
- ``inspector_unav_<n>.png``: the inspector on segment n (frame strips around its start and end, the
  per-view curves zoomed to the same windows, the controls and the corrections table);
- ``inspector_unav_in_view.png``: the whole window with player, inspector (every-frame strips of the last
  segment, the ground truth's labels as the label list) and the full-width timeline visible at once.

    .venv/bin/python benchmarks/inspector_screenshots.py [--segments 3]

Prints, per segment, its bounds and the times of the frames in each strip (the text of the report).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.app_harness import app_page  # noqa: E402
from utal_core.pipeline import PipelineConfig  # noqa: E402

UNAV = ROOT.parent / "shared" / "data" / "unav"
SHOTS = ROOT / "artifacts" / "browser"
STRIPS_LOADED = """(key) => { const box = document.querySelector('#inspector-strips div[data-key]');
    const imgs = box ? [...box.querySelectorAll('img')] : [];
    return box && box.dataset.key === key && imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=ROOT / ".cache" / "benchmarks" / "inspector")
    args = parser.parse_args()
    video, truth = UNAV / "unav_speech_60s.mp4", UNAV / "unav_speech_60s.gt.json"
    if not video.is_file():
        sys.exit(f"error: {video} not found (the shared research data)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    args.scratch.mkdir(parents=True, exist_ok=True)
    pipeline = PipelineConfig(cache_dir=str(args.scratch / "features"))
    with tempfile.TemporaryDirectory(dir=args.scratch) as folder, \
            app_page(Path(folder), pipeline=pipeline, timeout_ms=120_000) as (server, page):
        page.set_input_files("#gt-upload input[type=file]", str(truth))
        page.set_input_files("#upload input[type=file]", str(video))
        page.wait_for_selector(f"#upload .file-preview td[aria-label='{video.name}']")
        page.click("#analyze-btn")
        page.wait_for_selector("#segment-count-value", timeout=1_800_000)
        page.wait_for_selector("#segment-gallery img")
        server.services.proxies.wait(300)  # the strips as a visitor sees them once the proxy is written
        rows = int(page.inner_text("#segment-count-value"))
        key = None
        for row in range(min(args.segments, rows)):
            page.click(f"#segments-table [data-testid='cell-{row}-1']")
            key = page.wait_for_function(
                """(before) => { const key = document.querySelector('#inspector-info')?.innerText
                    .match(/Inspecting (#\\d+)/)?.[1]; return key && key !== before && key; }""",
                arg=key).json_value()
            page.wait_for_function(STRIPS_LOADED, arg=key)
            if row == 0:
                page.keyboard.press("a")
                page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('Accepted')")
            elif row == 1:
                page.evaluate("() => document.activeElement && document.activeElement.blur()")
                page.keyboard.press("Shift+X")
                page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('moved')")
                page.wait_for_timeout(1500)  # the strips of the moved start
            page.evaluate("() => document.querySelector('#inspector-panel').scrollTop = 0")
            page.screenshot(path=str(SHOTS / f"inspector_unav_{row + 1}.png"))
            frames = page.evaluate("""() => [...document.querySelectorAll('#inspector-strips .utal-strip')].map(s =>
                s.dataset.bound + ': ' + [...s.querySelectorAll('figure')].map(f =>
                    (f.classList.contains('boundary') ? '[' : '') + Number(f.dataset.time).toFixed(2) +
                    (f.classList.contains('boundary') ? ']' : '')).join(' '))""")
            print(f"segment {row + 1} ({key}): {page.inner_text('#inspector-info')}")
            for line in frames:
                print("   ", line)
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / "inspector_unav_top.png"))
        page.locator("#strip-mode").get_by_text("every frame").click()
        page.wait_for_function("() => [...document.querySelectorAll('#inspector-strips .utal-strip')].every("
                               "s => s.dataset.mode === 'every') && [...document.querySelectorAll('#inspector-strips img')]"
                               ".every(i => i.complete)")
        page.evaluate("() => { document.querySelector('#analyze-top').scrollIntoView({block: 'start'}); "
                      "document.querySelector('#inspector-panel').scrollTop = 0; }")
        page.wait_for_timeout(300)
        boxes = page.evaluate("""() => ['#player', '#inspector-panel', '#timeline'].map(s => {
            const r = document.querySelector(s).getBoundingClientRect();
            return `${s} ${Math.round(r.left)},${Math.round(r.top)}-${Math.round(r.right)},${Math.round(r.bottom)}`; })""")
        print("in view at 1440x900:", "; ".join(boxes))
        page.screenshot(path=str(SHOTS / "inspector_unav_in_view.png"))
    print(f"screenshots in {SHOTS}")


if __name__ == "__main__":
    main()
