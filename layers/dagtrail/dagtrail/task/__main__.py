"""python -m dagtrail.task -- <argv>"""

from dagtrail.task.main import main

raise SystemExit(main())
