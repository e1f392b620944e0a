"""The consent log: what a survivor agreed to share, with whom, and the one question
everything else asks of it (``service.sharing_scope``)."""
