"""A run: planning endpoints, the fetch -> decode -> load pipeline and its summary."""
