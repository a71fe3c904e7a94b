"""A meta-trained model adapted to one campaign: the seeds' own regression
and the blend that scores one user."""
