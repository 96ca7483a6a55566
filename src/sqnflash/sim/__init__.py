"""A simulated Sequans Monarch 1 modem: the same protocol codecs, the modem's side of them."""
