"""The web dashboard under /ui/: server-rendered pages (Jinja2 + htmx + uPlot), a cookie login."""
