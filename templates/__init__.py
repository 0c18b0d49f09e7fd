"""Every word the bot says (id/, en/) and the web pages (web/)."""
