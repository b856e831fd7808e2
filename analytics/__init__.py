"""Cookieless visitor statistics from web server logs: read, anonymise, classify, aggregate, report."""
