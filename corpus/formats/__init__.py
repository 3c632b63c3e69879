"""Format knowledge, one folder per format (issue 35's layout): how a file of that format becomes text and layout."""
