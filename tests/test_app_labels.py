"""The session's label list (ui/inspector_labels.py): where its labels come from, in which order, as plain text."""

from __future__ import annotations

from types import SimpleNamespace

from utal_core.cluster import unnamed
from utal_core.edits import EditLayer
from utal_core.evaluate import GroundTruth
from utal_core.types import Segment
from ui.inspector_labels import HOTKEY_LABELS, hotkey_buttons, label_list


def _analysis(cluster_names: list[str]) -> SimpleNamespace:
    layer = EditLayer(raw=(Segment(1.0, 2.0, 0.9, label="walk"), Segment(4.0, 6.0, 0.8, label="run")), duration=10.0,
                      fps=25.0)
    clusters = [SimpleNamespace(id=number, name=name) for number, name in enumerate(cluster_names)]
    return SimpleNamespace(clusters=clusters, edits=layer)


def test_labels_come_from_the_list_the_truth_the_named_clusters_and_the_edits_once_each():
    analysis = _analysis(["golf swing", unnamed(1), "jump"])
    analysis.edits.relabel("r1", "dive\u200b\nfar")
    analysis.edits.add(7.0, 8.0, "clap")
    truth = [GroundTruth(0.0, 1.0, "jump"), GroundTruth(2.0, 3.0, "wave")]
    assert label_list(analysis, truth, ["typed", "wave", "  "]) == ["typed", "wave", "jump", "golf swing",
                                                                     "dive far", "clap"]
    assert label_list(None, None, None) == []


def test_the_first_nine_labels_get_a_button_the_rest_none():
    labels = [f"label {n}" for n in range(12)]
    updates = hotkey_buttons(labels)
    assert len(updates) == HOTKEY_LABELS == 9
    assert [u["value"] for u in updates] == [f"{n + 1} label {n}" for n in range(9)]
    assert [u.get("visible") for u in hotkey_buttons(labels[:2])] == [True, True] + [False] * 7
