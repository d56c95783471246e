"""Bokeh/Panel directory app: builds each browser session's page (`panel serve isspanel`)."""

import panel as pn

from isspanel.dashboard import LINK_CSS, DashboardPage, get_hub
from isspanel.dashboard.gc_freeze import page_built
from isspanel.dashboard.panel_assets import serve_panel_css_locally
from isspanel.dashboard.session import SessionContext
from isspanel.dashboard.time_travel import TimeTravel

pn.extension(raw_css=[LINK_CSS])
context = SessionContext.current()  # this page's session: the one way in from a thread
serve_panel_css_locally(context.doc)  # before the page's models exist: see its docstring

# Absolute imports on purpose: Bokeh runs this file under a throw-away module name, while
# app_hooks started the one shared hub in the real `isspanel.dashboard` package.
page = DashboardPage(hub=get_hub(), context=context)
travel = TimeTravel(page, context)  # ?at= and the slider: this session at a moment
pn.Column(travel, page, sizing_mode="stretch_width").servable(title="isspanel — live ISS position")
page_built(page.hub.settings.dashboard.gc_freeze)  # out of full collections (gc_freeze.py)
