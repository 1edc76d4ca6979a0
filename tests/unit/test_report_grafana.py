"""The Grafana dashboard only queries metrics that connector.metrics defines."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from connector import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "smsync.json"


def _known() -> set[str]:
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names |= {family.name + s for s in ("", "_total", "_bucket", "_count", "_sum")}
    return names


def test_every_panel_queries_a_defined_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    used = {m for e in exprs for m in re.findall(r"\bsmsync_[a-z_]+", e)}
    unknown = used - _known()
    assert not unknown, unknown
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
