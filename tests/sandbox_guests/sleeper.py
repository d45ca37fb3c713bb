"""Sleeps for an hour, whatever happens to its inbox."""

from emilua import time

time.sleep(3600)
