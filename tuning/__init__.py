"""Meta-validation: the meta-test settings chosen on held-out training
campaigns (holdout: which campaigns and how they are split; search: the
grid; choice: how the tools apply the recorded choice)."""
