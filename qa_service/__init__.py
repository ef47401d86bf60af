"""Questions in, cited answers out: retrieval, prompting, generation, citation checks, API, CLI."""
