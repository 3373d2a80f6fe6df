"""The bot's web side (issue 12): the page that joins a room from the browser, its static
files, the one-time link's redemption and the WebSocket proxy to Asterisk."""
