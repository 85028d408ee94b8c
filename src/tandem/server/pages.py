"""Server-rendered pages: one Jinja2 environment, one layout, the navigation each role sees.

Pages are plain HTML forms and links (no front-end build); charts are Vega-Lite specs drawn by the Vega bundle
tandem serves itself (`tandem.server.charts`). Jinja2 autoescapes everything a page shows.

Numbers are formatted by the filters, never in a template: ``money`` (the workspace's currency, whole units:
`tandem.money.format_money`), ``count`` / ``number`` (whole; ``number("pct")``, ``number("days")``),
``money_change`` (``+$1,200``), ``expected`` (``≈ 1,102``, or ``≈ 1,102 expected leads`` given what) and
``period`` (``2026-Q1``, ``Dec 2026``: `tandem.periods.period_label`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from tandem import __version__
from tandem.accounts import Permission, Principal
from tandem.attribution.model import model_name
from tandem.exports import format_number
from tandem.money import format_money
from tandem.periods import period_label

__all__ = ["NAV", "NavItem", "render"]


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    permission: Permission


#: The pages, in menu order. A page for a capability that does not exist yet is not listed.
NAV: tuple[NavItem, ...] = (
    NavItem("Overview", "/", Permission.READ),
    NavItem("Funnel", "/funnel", Permission.READ),
    NavItem("Definitions", "/definitions", Permission.READ),
    NavItem("Plan", "/plan", Permission.READ),
    NavItem("Forecast", "/forecast", Permission.READ),
    NavItem("SLA", "/sla", Permission.READ),
    NavItem("Attribution", "/attribution", Permission.READ),
    NavItem("Imports", "/imports", Permission.READ),
    NavItem("Admin", "/admin", Permission.AUDIT),
)


def _when(value: Any) -> str:
    """A moment as a page shows it; documents carry moments as ISO 8601 text, Python objects as datetimes."""
    if isinstance(value, str) and len(value) > 10:
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    return "" if value is None else str(value)


def _expected(value: Any, what: str = "") -> str:
    """An expected count as people read it: ``≈ 1,102 expected leads`` (or ``≈ 1,102`` in a labelled column)."""
    if value is None:
        return ""
    shown = format_number(value, "expected")
    return f"{shown} expected {what}" if what else shown


def _money_change(value: Any) -> str:
    """A change of an amount, signed: ``+$1,200``, ``-$45,170``."""
    if value is None:
        return ""
    shown = format_money(value)
    return shown if shown.startswith("-") else "+" + shown


def _vega(spec: dict[str, Any], name: str) -> Markup:
    """A chart placeholder: the spec as inert JSON, drawn by /static/tandem.js."""
    # <, > and & written as JSON escapes: the payload cannot close the script element or open markup.
    payload = json.dumps(spec).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(  # noqa: S704 - the name is escaped and the payload holds no markup characters
        f'<figure class="chart" data-chart="{escape(name)}"><div class="vega"></div>'
        f'<script type="application/json">{payload}</script></figure>'
    )


def _query(base: dict[str, Any], **changes: Any) -> str:
    merged = {**base, **changes}
    pairs: list[tuple[str, str]] = []
    for key, value in merged.items():
        if value is None or value == "" or value is False:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((key, "1" if item is True else str(item)))
    return urlencode(pairs)


environment = Environment(
    loader=PackageLoader("tandem.server", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["number"] = format_number
environment.filters["money"] = format_money
environment.filters["money_change"] = _money_change
environment.filters["count"] = format_number  # a count: whole
environment.filters["expected"] = _expected
environment.filters["period"] = period_label
environment.filters["when"] = _when
environment.filters["model_name"] = model_name
environment.globals["vega"] = _vega
environment.globals["query"] = _query
environment.globals["version"] = __version__


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page in the layout, with the signed-in user, their menu and the CSRF token for forms."""
    principal: Principal | None = getattr(request.state, "principal", None)
    workspace_name = request.app.state.tandem.workspace.config.name
    html = environment.get_template(template).render(
        request=request,
        user=principal,
        nav=[item for item in NAV if principal is not None and principal.may(item.permission)],
        csrf_token=getattr(request.state, "csrf_token", ""),
        workspace_name=workspace_name,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
