"""`library` (add / remove / list / search / compact / rebuild): the persistent segment library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..library import COMPACTION_ENV, LibraryConfig, SearchFilters, SegmentLibrary, add_analysis_to_library, rebuild_library
from ..limits import ENV, Limits
from ..library.search import no_good_match, no_good_match_note
from ..text import ClipTextScorer, build_text_scorer, clip_or_label_bridge, reference_action_vectors
from . import subcommand


def _configure_library(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)

    add = actions.add_parser("add", help="Analyse videos and add their segments to the library.")
    add.add_argument("videos", nargs="+", type=Path, metavar="VIDEO")
    add.add_argument("--clip-weights", metavar="PATH", help="local open_clip weights file for the CLIP view")

    remove = actions.add_parser("remove", help="Remove a video (by path, id or content hash).")
    remove.add_argument("video", metavar="VIDEO_OR_ID")

    listing = actions.add_parser("list", help="List the videos in the library.")
    listing.add_argument("--json", action="store_true", help="print JSON")

    search = actions.add_parser("search", help="Find segments matching a text query.")
    search.add_argument("query", metavar="TEXT")
    search.add_argument("-k", type=int, default=10,
                        help=f"number of results (default 10, at most {Limits.max_search_k}: setting {ENV['max_search_k']})")
    search.add_argument("--encoder", choices=["auto", "clip", "label_bridge"], default="auto",
                        help="text encoder: auto uses CLIP when --clip-weights load, else the offline label bridge")
    search.add_argument("--clip-model", default="ViT-B-32", help="open_clip model name for the CLIP text tower")
    search.add_argument("--clip-weights", help="open_clip pretrained tag or weights file for the CLIP text tower")
    search.add_argument("--video", help="only segments of this video (path, id or content hash)")
    search.add_argument("--min-score", type=float, help="only segments scoring at least this")
    search.add_argument("--cluster", type=int, help="only segments of this cluster")
    search.add_argument("--json", action="store_true",
                        help="print JSON (each hit's match_bar and good_match: whether its text score reaches the bar)")

    compact = actions.add_parser(
        "compact", help="Fold the index shards that adds and removals append into each space's base index "
                        f"(done automatically after `library add` past {LibraryConfig.compact_shards} shards or "
                        f"{LibraryConfig.compact_vectors} vectors: settings {', '.join(COMPACTION_ENV.values())}).")

    rebuild = actions.add_parser("rebuild", aliases=["repair"],
                                 help="Re-create a lost or damaged library database from its saved video records "
                                      "(the old files are kept in damaged/).")

    for sub in (add, remove, listing, search, compact, rebuild):
        sub.add_argument("--library", type=Path, required=True, metavar="DIR", help="library folder")


def _add(library: SegmentLibrary, videos: list[Path], clip_weights: str | None) -> None:
    from ..pipeline import Pipeline, PipelineConfig

    config = PipelineConfig()
    if clip_weights:
        config.encoder_configs["clip"] = {"weights": clip_weights}
    pipeline = Pipeline.from_config(config)
    for video in videos:
        video_id = add_analysis_to_library(library, pipeline.analyze(video))
        print(f"added {video} as video {video_id}")
    for space in library.compact(if_needed=True):
        print(f"compacted the {space} index")


def _search(library: SegmentLibrary, args: argparse.Namespace) -> None:
    k = Limits.from_env().check_search_k(args.k)
    if args.encoder == "auto":
        scorer = clip_or_label_bridge(args.clip_model, args.clip_weights)
    elif args.encoder == "clip":
        scorer = build_text_scorer("clip", model_name=args.clip_model, pretrained=args.clip_weights)
    else:
        scorer = build_text_scorer("label_bridge")
    if isinstance(scorer, ClipTextScorer) and not scorer.verified:
        print(f"warning: the CLIP text tower failed its sanity check; results are from {scorer.label}", file=sys.stderr)
    filters = SearchFilters(video=args.video, min_score=args.min_score, cluster=args.cluster)
    hits = library.search_text(args.query, scorer, k=k, filters=filters, confidence_weight=library.config.confidence_weight,
                               match_bars=True)
    if args.json:
        print(json.dumps([hit.to_dict() for hit in hits], indent=2))
        return
    if not hits:
        print("no matching segments")
    elif no_good_match(hits):
        print(no_good_match_note(hits, len(reference_action_vectors(scorer))))
    for rank, hit in enumerate(hits, start=1):
        verdict = "" if hit.good_match is not False else f"  below its bar {hit.match_bar:.3f}"
        print(f"{rank:>3}. {hit.rank_score:.3f} (text {hit.score:.3f}, segment {hit.confidence:.3f})  {hit.video_name}  "
              f"{hit.start:.2f}-{hit.end:.2f} s  cluster {hit.cluster} {hit.label or ''}  [{hit.encoder}]{verdict}")


@subcommand("library", "Manage and search the persistent segment library.", _configure_library)
def run_library(args: argparse.Namespace) -> int:
    config = LibraryConfig.from_env()
    if args.action in ("rebuild", "repair"):
        report = rebuild_library(args.library, config)
        if report.set_aside:
            print(f"old database and indexes kept in {report.set_aside}")
        for name, reason in report.unreadable.items():
            print(f"warning: record {name} could not be read: {reason}", file=sys.stderr)
        print(f"restored {len(report.restored)} video(s) into {args.library}")
        return 0
    with SegmentLibrary.open(args.library, config) as library:
        if args.action == "compact":
            compacted = library.compact()
            print(f"compacted {', '.join(compacted)}" if compacted else "nothing to compact")
        elif args.action == "add":
            _add(library, args.videos, args.clip_weights)
        elif args.action == "remove":
            print(f"removed video {library.remove_video(args.video)}")
        elif args.action == "list":
            videos = library.list_videos()
            if args.json:
                print(json.dumps([video.to_dict() for video in videos], indent=2))
            for video in [] if args.json else videos:
                print(f"{video.id:>4}  {video.num_segments:>4} segments  {video.duration:8.1f} s  {video.path}")
        else:
            _search(library, args)
    return 0
