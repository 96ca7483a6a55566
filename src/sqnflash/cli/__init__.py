"""The sqnflash command line: click commands that call the library and render its events."""
