from fashionlab.cli import entry

entry()
