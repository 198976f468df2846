# The warm CLI's client decides first: a warm server's child, or this process.
from .warm.client import main

main()
