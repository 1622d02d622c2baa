"""User interfaces: the command line now, the Gradio workbench later; both call zoomin_ui.service."""
