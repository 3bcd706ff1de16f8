"""Outreach: turn research findings into published blog posts, episodes, releases and emails.

The core package is pure Python with no Prefect import: flows in ``flows/`` orchestrate it.
"""

__version__ = "0.1.0"
