"""Opt-out intent on the labelled corpus: how many revocations the classifier catches, and
how often it takes an ordinary reply for one.

    .venv/bin/python scripts/bench_optout.py --json
    .venv/bin/python scripts/bench_optout.py --json --split heldout

The corpus (`tests/data/optout_corpus.jsonl`, one JSON object a line: text, label
opt_out|help|opt_in|null, category, split, opted_out) was written before the classifier;
its `heldout` split was not used to tune it. Each reply is classified as the engine does,
with the sender's consent (`opted_out`): START/YES count as opt-in only from an opted-out
number. Figures:

    recall               opt-outs recognised / opt-outs (target >= 0.98)
    precision            opt-outs recognised / replies read as opt-outs
    false_positive_rate  ordinary replies read as opt-outs / ordinary replies (<= 0.02)
    help_recall          help requests read as HELP / help requests
    opt_in_recall        opt-ins read as opt-in / opt-ins (from opted-out numbers)
    reviews              opt-outs read from a cue only (unsure): each gets a review task

`baseline` is the carriers' own rule on the same corpus (one default keyword, alone), for
the ratio."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.domain.keywords import (
    DEFAULT_HELP,
    DEFAULT_OPT_IN,
    DEFAULT_OPT_OUT,
    KeywordMatch,
    Sender,
    classify,
)
from connector.domain.revocation import words

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "optout_corpus.jsonl"
TARGET_RECALL = 0.98
TARGET_FALSE_POSITIVE_RATE = 0.02


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    label: str | None
    category: str
    split: str
    opted_out: bool


def load(path: Path = CORPUS) -> list[Reply]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row: dict[str, Any] = json.loads(line)
            out.append(
                Reply(
                    row["text"],
                    row["label"],
                    row["category"],
                    row["split"],
                    bool(row.get("opted_out")),
                )
            )
    return out


Verdict = tuple[str | None, bool]  # (kind, unsure)


def smsync(reply: Reply) -> Verdict:
    found: KeywordMatch | None = classify(reply.text, sender=Sender(opted_out=reply.opted_out))
    return (found.kind.value, found.unsure) if found is not None else (None, False)


def carrier(reply: Reply) -> Verdict:
    """One default keyword and nothing else, as Twilio and the carriers match."""
    found = words(reply.text)
    if len(found) != 1:
        return None, False
    word = found[0].upper()
    if word in DEFAULT_OPT_OUT:
        return "opt_out", False
    if word in DEFAULT_HELP:
        return "help", False
    if word in DEFAULT_OPT_IN and reply.opted_out:
        return "opt_in", False
    return None, False


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def figures(replies: Sequence[Reply], decide: Callable[[Reply], Verdict]) -> dict[str, Any]:
    verdicts = [decide(r) for r in replies]
    pairs = list(zip(replies, verdicts, strict=True))
    opt_outs = [v for r, v in pairs if r.label == "opt_out"]
    ordinary = [v for r, v in pairs if r.label is None]
    read_out = [(r, v) for r, v in pairs if v[0] == "opt_out"]
    helps = [v for r, v in pairs if r.label == "help"]
    opt_ins = [v for r, v in pairs if r.label == "opt_in"]
    caught = sum(v[0] == "opt_out" for v in opt_outs)
    by_category: dict[str, dict[str, int]] = {}
    for r, v in pairs:
        entry = by_category.setdefault(r.category, {"replies": 0, "correct": 0})
        entry["replies"] += 1
        entry["correct"] += v[0] == r.label
    return {
        "replies": len(replies),
        "opt_outs": len(opt_outs),
        "recall": _ratio(caught, len(opt_outs)),
        "precision": _ratio(sum(r.label == "opt_out" for r, _ in read_out), len(read_out)),
        "false_positive_rate": _ratio(sum(v[0] == "opt_out" for v in ordinary), len(ordinary)),
        "help_recall": _ratio(sum(v[0] == "help" for v in helps), len(helps)),
        "opt_in_recall": _ratio(sum(v[0] == "opt_in" for v in opt_ins), len(opt_ins)),
        "reviews": sum(v[1] for _, v in read_out),
        "by_category": dict(sorted(by_category.items())),
    }


def mistakes(replies: Sequence[Reply]) -> list[dict[str, Any]]:
    out = []
    for reply in replies:
        kind, unsure = smsync(reply)
        if kind != reply.label:
            out.append({"text": reply.text, "label": reply.label, "got": kind, "unsure": unsure})
    return out


def run(split: str | None = None) -> dict[str, Any]:
    corpus = load()
    chosen = [r for r in corpus if split is None or r.split == split]
    started = time.perf_counter()
    result = figures(chosen, smsync)
    elapsed = time.perf_counter() - started
    result["splits"] = {
        name: {
            k: v
            for k, v in figures([r for r in chosen if r.split == name], smsync).items()
            if k != "by_category"
        }
        for name in sorted(Counter(r.split for r in chosen))
    }
    base = figures(chosen, carrier)
    result["baseline"] = {k: base[k] for k in ("recall", "false_positive_rate", "help_recall")}
    if base["recall"]:
        result["recall_vs_baseline"] = round(result["recall"] / base["recall"], 2)
    result["us_per_reply"] = round(elapsed / max(len(chosen), 1) * 1e6, 1)
    result["meets_targets"] = bool(
        result["recall"] is not None
        and result["recall"] >= TARGET_RECALL
        and (result["false_positive_rate"] or 0.0) <= TARGET_FALSE_POSITIVE_RATE
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--split", choices=("dev", "heldout", "fresh"), help="only this part")
    parser.add_argument("--mistakes", action="store_true", help="list misread replies")
    args = parser.parse_args(argv)
    result = run(args.split)
    if args.mistakes:
        chosen = [r for r in load() if args.split is None or r.split == args.split]
        result["mistakes"] = mistakes(chosen)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key in ("replies", "opt_outs", "recall", "precision", "false_positive_rate"):
            print(f"{key:>20}: {result[key]}")
        print(f"{'help_recall':>20}: {result['help_recall']}")
        for item in result.get("mistakes", []):
            print(f"  {item['label']!s:>8} <- {item['got']!s:<8} {item['text']}")
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())
