from impasto.cli import app

app(prog_name="impasto")
