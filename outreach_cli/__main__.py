from outreach_cli.main import app

app(prog_name="outreach")
