"""The leaderboard of submitted results: submission, validation, rendering."""
