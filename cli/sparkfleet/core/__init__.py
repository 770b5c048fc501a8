"""The ground floor: the project and all its paths, the inventory, keys and known_hosts, the one runner of
ansible-runner, events, errors and the records runs leave. It imports nothing else of sparkfleet."""
