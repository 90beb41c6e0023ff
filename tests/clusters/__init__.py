"""Real clusters the suite starts itself: a pseudo-distributed Hadoop and a Kubernetes control plane."""
