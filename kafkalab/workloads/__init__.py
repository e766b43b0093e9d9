"""What several chapters' experiments share: the client factory and its defaults, load feeds,
consumer-group members, processors, running side by side, a partition's files and replicas."""
