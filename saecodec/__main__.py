"""``python -m saecodec``: the ``saec`` command line (see :mod:`saecodec.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
