"""Open a page in Debian's headless Chromium with the network off, and say what it drew.

Playwright drives the browser the project installs (`scripts/ensure-chromium`), never one it
downloads. The browser starts with a fresh profile, every background service that could reach
the network disabled, and the context offline; every request the page makes is recorded, so a
test can assert none left the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    # anything that still tries the network meets a closed port
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
]
# Before the page's own scripts: keep every uncaught error and rejected promise where the
# wait below can see it, not only in Playwright's event stream.
COLLECT_ERRORS = """
window.__pageErrors = [];
addEventListener("error", (event) => window.__pageErrors.push(String(event.message)));
addEventListener("unhandledrejection",
                 (event) => window.__pageErrors.push("unhandled rejection: " + event.reason));
"""
# What each chart holds and what it drew: values plotted (finite numbers) and marks on screen
# (bars with a size, lines with a path, heatmap images).
CHART_STATE = """
() => Array.from(document.querySelectorAll("div.chart")).map((div) => {
  const finite = (values) => {
    let n = 0;
    for (const v of values || []) {
      if (v !== null && typeof v === "object" && v.length !== undefined) n += finite(v);
      else if (typeof v === "number" && Number.isFinite(v)) n += 1;
    }
    return n;
  };
  const traces = div._fullData || [];
  const values = traces.reduce(
    (n, t) => n + finite(t.type === "heatmap" ? t.z : t.orientation === "h" ? t.x : t.y), 0);
  const bars = Array.from(div.querySelectorAll("g.point path"))
    .filter((p) => !["", "M0,0Z"].includes(p.getAttribute("d") || "")).length;
  const lines = Array.from(div.querySelectorAll("path.js-line"))
    .filter((p) => (p.getAttribute("d") || "").length > 2).length;
  const images = Array.from(div.querySelectorAll("g.hm image"))
    .filter((i) => (i.getAttribute("href") || i.getAttribute("xlink:href") || "").length > 100).length;
  return { id: div.id, name: div.dataset.chart, drawn: !!div.querySelector(".main-svg"),
           traces: traces.length, values: values, marks: bars + lines + images };
})
"""


@dataclass
class PageVisit:
    """What happened when a page was opened."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)
    charts_rendered: int | None = None
    missing: list[str] = field(default_factory=list)

    @property
    def empty_charts(self) -> list[dict[str, Any]]:
        return [c for c in self.charts if not (c["drawn"] and c["values"] and c["marks"])]

    @property
    def remote_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(("file://", "data:", "blob:"))]


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run scripts/ensure-chromium (make test runs it) to install "
            "Debian's chromium package"
        )


def visit(
    page_file: Path,
    profile: Path,
    *,
    screenshots: dict[str, Path] | None = None,
    timeout_ms: int = 120_000,
) -> PageVisit:
    """Open `page_file`, wait until its charts are drawn (or it failed), read their state.

    `screenshots` maps a CSS selector to the PNG file its first element is captured in;
    selectors that match nothing are listed in `missing`.
    """
    from playwright.sync_api import sync_playwright

    require_chromium()
    result = PageVisit()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            offline=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            context.add_init_script(COLLECT_ERRORS)
            context.on("request", lambda request: result.requests.append(request.url))
            page = context.new_page()
            page.on("pageerror", lambda error: result.errors.append(str(error)))
            page.on(
                "console",
                lambda message: (
                    result.errors.append(message.text) if message.type == "error" else None
                ),
            )
            page.goto(page_file.resolve().as_uri())
            page.wait_for_function(
                "document.body && (document.body.dataset.chartsRendered !== undefined"
                " || window.__pageErrors.length > 0)",
                timeout=timeout_ms,
            )
            rendered = page.evaluate("document.body.dataset.chartsRendered")
            result.charts_rendered = int(rendered) if rendered is not None else None
            result.errors.extend(
                e for e in page.evaluate("window.__pageErrors") if e not in result.errors
            )
            result.charts = page.evaluate(CHART_STATE)
            for selector, path in (screenshots or {}).items():
                element = page.locator(selector)
                if not element.count():
                    result.missing.append(selector)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                element.first.screenshot(path=str(path))
        finally:
            context.close()
    return result
