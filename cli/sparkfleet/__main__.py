from sparkfleet.cli import main

main()
