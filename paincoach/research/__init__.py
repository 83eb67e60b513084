"""Research: pseudonymised transcripts, full-text search, data exports and withdrawal."""
