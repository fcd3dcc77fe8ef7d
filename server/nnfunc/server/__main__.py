"""python -m nnfunc.server: serve until SIGTERM/SIGINT (see ``--help``)."""

import sys

from nnfunc.server import main

if __name__ == "__main__":
    sys.exit(main())
