"""`python -m gateway.cli serve`, as the tests and benchmarks start a gateway process."""

import sys

from gateway.cli import main

if __name__ == "__main__":
    sys.exit(main())
