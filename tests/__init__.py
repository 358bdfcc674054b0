"""The test suite: one folder per package of sim/, the base and whole-simulation tests at the top."""
