"""Process plumbing: settings, database, Temporal client, logging, the embedded stack and the CLI."""
