from outreach.cli import app

app()
