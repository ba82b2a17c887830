"""Documents the service hands out: spreadsheet cells, server-drawn SVG charts and PDF bulletins."""
