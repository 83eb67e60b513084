"""Data protection: retention, and erasing the conversations of people who never consented."""
