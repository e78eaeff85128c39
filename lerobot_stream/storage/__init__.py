"""The dataset on disk: where an episode's rows and videos go (placement), the metadata files and the episodes
table, changes that can be rolled back (`file_transaction`), the one-writer lock, free space, and walking a
dataset's files without following links out of it. Knows nothing of encoding or of LeRobot's argument styles."""
