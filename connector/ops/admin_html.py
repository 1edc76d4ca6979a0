"""The admin page's HTML: server-rendered, one inline stylesheet, no script, no external
asset (the Content-Security-Policy says so to the browser too). Every value is escaped,
and phone numbers reach it only masked (`mask_phone`, `scrub`)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
_STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5rem;color:#1b1b1b;max-width:75rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.8rem}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}.bad{color:#a00;font-weight:bold}
.ok{color:#070}code{font-size:12px;word-break:break-all}form.inline{display:inline}
"""


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return f"<code>{escape(json.dumps(value, sort_keys=True, default=str))}</code>"
    return escape(str(value))


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body or '<tr><td colspan=99>none</td></tr>'}</table>"


def status_html(status: dict[str, Any]) -> str:
    verdict = (
        '<p class="ok">healthy</p>'
        if status["healthy"]
        else '<p class="bad">unhealthy</p><ul>'
        + "".join(f"<li>{escape(p)}</li>" for p in status["problems"])
        + "</ul>"
    )
    jobs = [
        [
            escape(name),
            _cell(j["outcome"]),
            _cell(j["last_run"]),
            _cell(j["duration_s"]),
            _cell(j["failures_in_a_row"]),
            _cell(j["leader"]),
        ]
        for name, j in status["jobs"].items()
    ]
    lag = status["lag"]
    return (
        "<h2>Status</h2>"
        + verdict
        + _table(["job", "outcome", "last run", "seconds", "failures in a row", "led by"], jobs)
        + f"<p>writeback lag {_cell(lag['writeback_s'])}s, inbound lag {_cell(lag['inbound_s'])}s,"
        f" cursors {_cell(lag['cursors_s'])}</p>"
        f"<p>queues {_cell(status['queues'])}</p>"
        f"<p>retry ledger {_cell(status['retry_ledger'])}</p>"
        f"<p>CRM API budget {_cell(status['crm_api_budget'])}</p>"
    )


def failures_html(failures: list[dict[str, Any]], csrf: str) -> str:
    rows = []
    for f in failures:
        button = (
            '<form class="inline" method="post" action="/admin/failures/retry">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            f'<input type="hidden" name="id" value="{escape(f["id"])}">'
            f'<button type="submit" name="retry" value="{escape(f["id"])}">retry</button></form>'
        )
        rows.append(
            [
                escape(f["id"]),
                _cell(f["state"]),
                _cell(f["record"]),
                f"<b>{_cell(f['code'])}</b> {_cell(f['message'])}",
                _cell(f["payload"]),
                _cell(f["attempts"]),
                _cell(f["next_retry"]),
                button if f["state"] != "claimed" else "in flight",
            ]
        )
    return "<h2>Failures</h2>" + _table(
        ["id", "state", "record", "error", "payload", "attempts", "next retry", ""], rows
    )


def contact_form(phone_shown: str = "") -> str:
    return (
        '<h2>Contact</h2><form method="get" action="/admin/contact">'
        '<label>phone <input name="phone" autocomplete="off"></label> '
        '<button type="submit">show decisions and consent</button></form>'
        + (f"<p>{escape(phone_shown)}</p>" if phone_shown else "")
    )


def contact_html(consent: dict[str, Any], decisions: list[dict[str, Any]]) -> str:
    changes = [
        [
            _cell(c["at"]),
            _cell(c["status"]),
            _cell(c["source"]),
            _cell(c["evidence_text"]),
            _cell(c["message_id"]),
            "<br>".join(
                f"{_cell(t['sid'])} {_cell(t['at'])} {_cell(t['play'])}: "
                + (f"decision {t['allowed_by']['id']}" if t["allowed_by"] else "no allow decision")
                for t in c["texts_after"]
            )
            or "-",
        ]
        for c in consent["changes"]
    ]
    decided = [
        [_cell(d["at"]), _cell(d["verdict"]), _cell(d["reasons"]), _cell(d["play"])]
        for d in decisions
    ]
    return (
        f"<h2>Consent of {escape(consent['phone'])}: {_cell(consent['status'])}</h2>"
        + _table(["at", "status", "source", "evidence", "message", "texts after"], changes)
        + "<h2>Decisions</h2>"
        + _table(["at", "verdict", "reasons", "play"], decided)
    )


def login_html(error: str = "") -> str:
    return page(
        "smsync admin: log in",
        (f'<p class="bad">{escape(error)}</p>' if error else "")
        + '<form method="post" action="/admin/login"><label>admin token '
        '<input type="password" name="token" autocomplete="off"></label> '
        '<button type="submit">log in</button></form>',
    )
