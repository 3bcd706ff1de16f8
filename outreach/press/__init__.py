"""The press channel's parts: house style, releases, press kits, journalists and pitches."""
