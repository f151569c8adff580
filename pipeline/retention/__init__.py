"""`callaudit retention`: which recordings are past their retention period, and their witnessed destruction."""
