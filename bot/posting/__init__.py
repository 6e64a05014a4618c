"""The Discord side of a debate: its status line, and one correct sender per channel."""
