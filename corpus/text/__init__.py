"""Text: the shared one-pass annotation of documents."""
