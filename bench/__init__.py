"""`make bench`: the speed of the running stack, measured over HTTP as clients use it."""
