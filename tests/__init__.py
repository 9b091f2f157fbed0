"""The test suite, one package: helpers are imported as tests.<package>.<module>, under one name only."""
