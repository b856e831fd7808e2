"""The repair-request handler: accept, store and mail repair requests; the owner's `repairs` CLI."""
