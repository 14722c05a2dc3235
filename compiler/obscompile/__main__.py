from obscompile.cli import main

main()
