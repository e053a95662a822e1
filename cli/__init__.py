"""The top floor: the `medivoy` command (cli.main) and what only it runs: the dev stack, the
demo seed, the first admin. It may import every package; nothing imports it."""
