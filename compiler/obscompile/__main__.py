from obscompile.cli import run

run()
