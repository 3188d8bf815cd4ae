"""Two-way sync of a local folder with a folder of the account (``mdbx sync``)."""
