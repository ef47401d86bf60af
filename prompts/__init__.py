"""Prompt templates as plain text files, read at run time (shipped as package data)."""
