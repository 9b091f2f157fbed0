"""A simulated cash register (firmware) and fleet that sign, chain, queue and upload fiscal events."""
