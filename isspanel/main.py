"""Bokeh/Panel directory app: builds each browser session's page (`panel serve isspanel`)."""

import panel as pn

from isspanel.dashboard_page import DashboardPage
from isspanel.stream_hub import get_hub

pn.extension()

# Absolute imports on purpose: Bokeh runs this file under a throw-away module name, while
# app_hooks started the one shared hub in the real `isspanel.stream_hub` module.
page = DashboardPage(get_hub(), pn.state.curdoc)
page.layout.servable(title="isspanel — live ISS position")
