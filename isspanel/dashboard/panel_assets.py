"""Keep Panel's own stylesheets on the dashboard's server, whichever worker builds the session."""

from bokeh.document import Document
from panel.io.resources import get_dist_path


def serve_panel_css_locally(doc: Document) -> None:
    """Give ``doc`` Panel's ``dist_url`` before any of the page's models are made.

    Panel (1.9.4, unchanged in 1.10.0) sets ``dist_url`` in the document's template variables
    only while rendering the HTML page (panel/io/server.py, server_html_page_for_session). A
    session that Bokeh creates from the websocket never gets it, and Panel then points every
    ImportedStyleSheet at cdn.holoviz.org (panel/reactive.py, Syncable._get_properties). That
    happens with `--num-procs`, where the page and its websocket can reach different worker
    processes, and when a session is discarded before its slow first websocket arrives. No
    upstream issue names this path yet; the symptom is holoviz/panel#7073. Drop this helper
    once tests/dashboard/test_offline.py::test_panel_still_needs_the_helper fails.
    """
    # The same value Panel would set for the page: local unless BOKEH_RESOURCES asks for a CDN.
    doc.template_variables.setdefault("dist_url", get_dist_path())
