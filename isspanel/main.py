"""Bokeh/Panel directory app: builds each browser session's page (`panel serve isspanel`)."""

import panel as pn

from isspanel.dashboard import LINK_CSS, DashboardPage, get_hub
from isspanel.dashboard.panel_assets import serve_panel_css_locally

pn.extension(raw_css=[LINK_CSS])
serve_panel_css_locally(pn.state.curdoc)  # before the page's models exist: see its docstring

# Absolute imports on purpose: Bokeh runs this file under a throw-away module name, while
# app_hooks started the one shared hub in the real `isspanel.dashboard` package.
DashboardPage(hub=get_hub()).servable(title="isspanel — live ISS position")
