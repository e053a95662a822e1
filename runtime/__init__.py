"""Process plumbing that every package may import: settings, database, Temporal client, logging,
the embedded servers (PostgreSQL, Temporal), migrations and the stack file. It imports no
package above domain/; the entry points that use it live in cli/."""
