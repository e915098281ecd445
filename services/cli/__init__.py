"""`layercake`: the command-line tool; it talks only to the gateway."""
