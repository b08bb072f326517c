"""Screenshots at 1440x900 of the Dataset tab, into artifacts/browser/ (git-ignored):

- ``dataset_summary.png``: the THUMOS14 test ground truth (../shared/data/thumos14; a generated one in its layout
  without it) with two results files of the seeded error model (tests/test_app_dataset.py's two detectors: a
  baseline, and one that misses less but shifts more): the mAP table, the DETAD breakdown, the length sensitivity;
- ``dataset_classes.png``: AP per class and the first page of the video table, sorted by AP (worst first);
- ``dataset_video.png``: the worst video opened in the Analyze tab (the dataset bar over it): the player, the
  inspector's frame strips on the instance of its first missed instance or localization error, the timeline's lanes
  (the ground truth, one lane per detector coloured by outcome, the edits lane); a synthetic video named after
  it (the real ones are not here);
- ``dataset_video_errors.png``: under it, the detectors' outcome breakdown, error list and offset histograms.

    .venv/bin/python benchmarks/dataset_screenshots.py

Prints what the pictures show as text: the summary tables and the worst video's errors.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.app_harness import app_page  # noqa: E402
from tests.test_app_dataset import load_in_tab, planted_dataset  # noqa: E402
from utal_core.dataset.report import format_text  # noqa: E402

SHOTS = ROOT / "artifacts" / "browser"


def main() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        dataset = planted_dataset(folder)
        os.environ["UTAL_DATASET_ROOT"] = str(folder / "data")
        view, worst = dataset["view"], dataset["order"][0]
        print(format_text(view, view.page("ap", limit=5).rows))
        with app_page(folder) as (_, page):
            load_in_tab(page, dataset)
            page.wait_for_selector("#dataset-classes .js-plotly-plot")
            page.locator("#dataset-info").scroll_into_view_if_needed()
            page.evaluate("() => document.querySelector('#dataset-info').scrollIntoView({block: 'start'})")
            page.screenshot(path=str(SHOTS / "dataset_summary.png"))
            page.evaluate("() => document.querySelector('#dataset-classes').scrollIntoView({block: 'start'})")
            page.screenshot(path=str(SHOTS / "dataset_classes.png"))
            page.click("#dataset-table tbody tr:first-child td:first-child")
            page.wait_for_function("(v) => document.querySelector('#status')?.innerText.includes(v)", arg=worst)
            page.wait_for_selector("#errors-table [data-testid='cell-0-0']")
            # the inspector on the instance of the first error that has one (a missed one, a localization error)
            row = page.evaluate("""() => { const cell = [...document.querySelectorAll('#errors-table [data-testid^="cell-"]')]
                .find(c => /^cell-\\d+-0$/.test(c.dataset.testid) && /missed|localization/.test(c.innerText));
                return cell ? Number(cell.dataset.testid.split('-')[1]) : 0; }""")
            page.click(f"#errors-table [data-testid='cell-{row}-0']")
            page.wait_for_selector("#inspector-strips figure img")
            page.wait_for_function("() => document.querySelector('#player video')?.readyState >= 2")
            page.evaluate("() => window.scrollTo(0, document.querySelector('#dataset-bar').getBoundingClientRect().top"
                          " + window.scrollY)")
            page.screenshot(path=str(SHOTS / "dataset_video.png"))
            page.evaluate("() => document.querySelector('#detector-info').scrollIntoView({block: 'start'})")
            page.screenshot(path=str(SHOTS / "dataset_video_errors.png"))
            print(f"\nworst video {worst}: errors as listed\n" + page.inner_text("#errors-table"))
    names = ("dataset_summary.png", "dataset_classes.png", "dataset_video.png", "dataset_video_errors.png")
    print(f"\nwritten: {', '.join(str(SHOTS / name) for name in names)}")


if __name__ == "__main__":
    main()
