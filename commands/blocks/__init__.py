"""Block Kit for every message, modal and Home tab the app shows: pure functions of data.

One module per kind of payload; ``kit`` holds the pieces they share. The PIN appears in one
place only: a dial-in card whose poster chose to include it.
"""
