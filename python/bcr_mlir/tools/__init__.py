"""Console scripts: bcr-opt, bcr-compile, bcr-run, bcr-demo."""
