"""Scientific papers: the shared Paper model and section policy, and the readers of each format."""
