"""Social posts (Bluesky, Mastodon): text, clients and the after-publish action."""
