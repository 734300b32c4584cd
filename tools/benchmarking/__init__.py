"""Helpers shared by the benchmark tools: timing, peak memory, the torchvision peer, weights, inputs."""
