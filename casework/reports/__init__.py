"""Reports and exports built from the case records."""
