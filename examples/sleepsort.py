"""Sleepsort (manual, "Hello sleepsort"): each number sleeps n/100 s, then prints."""

from emilua import spawn, time

numbers = [8, 42, 38, 111, 2, 39, 1]

for n in numbers:

    def sorter(n=n):
        time.sleep(n / 100)
        print(n)

    spawn(sorter)
