"""Process sandboxes built on Linux namespaces (manual: "Linux namespaces")."""
