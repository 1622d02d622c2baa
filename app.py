"""Start the ZoomIn Workbench.

The Gradio workbench is not built yet; until it is, `python app.py ...` is the
`zoomin` command line (for example `python app.py analyze photo.jpg`), and
with no arguments it runs the demo that `make run` shows.
"""

import sys

from zoomin_ui.cli import main

if __name__ == "__main__":
    main(args=sys.argv[1:] or ["demo"], prog_name="app.py")
