"""The page's HTML: text from the database cannot end a script or open a tag."""

from __future__ import annotations

import json
import re

import plotly.graph_objects as go

from report.page import Page

HOSTILE = "</script><script>alert('PG&E')</script>"


def test_chart_text_cannot_end_the_script_that_carries_it():
    page = Page()
    body = page.chart(HOSTILE, go.Figure(go.Bar(name=HOSTILE, x=[HOSTILE], y=[1.0])))
    document = page.document(HOSTILE, body)
    scripts = re.findall(r"<script\b[^>]*>", document)
    assert document.count("</script>") == len(scripts) == 4  # plotly.js, figures, template, draw
    figures = re.search(
        r'<script type="application/json" id="report-figures">(.*?)</script>', document, re.S
    )
    assert figures is not None
    figure = next(iter(json.loads(figures.group(1)).values()))
    assert figure["data"][0]["name"] == HOSTILE  # the reader still sees the text as it is
    assert "<title>&lt;/script&gt;" in document and f'data-chart="{HOSTILE}"' not in document
