"""Distributed evolutionary architecture search for DetNAS: master, evaluation servers, transports."""
