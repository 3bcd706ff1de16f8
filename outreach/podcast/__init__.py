"""Podcast production: mastering, tags, art, transcripts, chapters and the RSS feed."""
