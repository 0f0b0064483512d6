"""paygate's kit for plugin authors: fixtures and the provider conformance suite."""
