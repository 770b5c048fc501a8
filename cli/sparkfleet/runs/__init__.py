"""Commands made of phases (plans), and what they record: run history and the hosts' gathered notes."""
