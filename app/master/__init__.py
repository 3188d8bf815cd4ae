"""The master role: the file catalogue and the cluster's coordinator."""
