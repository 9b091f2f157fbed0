"""The analyst and retailer pages: static HTML, CSS and JS in the package; they call the JSON API."""
