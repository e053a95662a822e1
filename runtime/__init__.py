"""Process plumbing: settings, database, Temporal client, logging, embedded stack, CLI."""
