"""LeRobot's argument styles (v0.5 keywords, v0.6 config objects, positional orders) mapped to the project's
own types at the edge, so that nothing below takes more than one form."""
