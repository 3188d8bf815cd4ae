"""``python -m bench``: the ``make bench`` run (see ``bench.run``)."""

from bench.run import main

main()
