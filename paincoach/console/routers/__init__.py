"""One router per area of the console; each declares its access rule once."""
