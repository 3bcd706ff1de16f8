"""Webinars and workshops: the event kind of publication (``events/<id>.md``)."""
