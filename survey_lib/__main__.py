"""``python -m survey_lib ...``: the command line (see :mod:`survey_lib.cli`)."""

from survey_lib.cli import main

raise SystemExit(main())
