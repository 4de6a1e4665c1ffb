"""Classrooms (#18): a trainer's class, its students' live rows, watching, hints, broadcast."""
