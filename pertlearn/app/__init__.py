"""The app wing, above the science: the command line (`pertlearn.app.cli`), the run registry and papermill runner
(`pertlearn.app.runner`) and the offline docs reader (`pertlearn.app.docs`). No module outside this package imports it."""
