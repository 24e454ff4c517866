"""The demo, from a checkout: ``python app.py`` is ``asr demo`` (see :mod:`asr.demo`)."""

from asr.demo import main

if __name__ == "__main__":
    main()
