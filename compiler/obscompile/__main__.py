from obscompile.startup import main

main()
