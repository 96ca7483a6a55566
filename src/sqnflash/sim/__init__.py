"""A simulated Sequans Monarch 1 modem: the same protocol codecs, the modem's side of them."""
import sqnflash.link  # noqa: F401  (registers the sim:// URL handler with pyserial)
