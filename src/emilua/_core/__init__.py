"""Compiled core of emilua: byte_span, the proactor and the codecs."""
