"""Start the ZoomIn analyst workbench: `python app.py [--host H] [--port P]
[--auth USER:PASS] [--data-dir DIR] [--backend ...]` (see docs/workbench.md).

The command line tools are `zoomin ...` (zoomin_ui/cli.py)."""

from models.heap import reuse_large_blocks

reuse_large_blocks()  # before numpy, torch and OpenCV start their threads (models/heap.py)

from zoomin_ui.web.launch import serve  # noqa: E402

if __name__ == "__main__":
    serve(prog_name="app.py")
