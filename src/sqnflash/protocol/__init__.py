"""Sans-I/O codecs shared by the client and the simulator: bytes in, frames and lines out."""
