"""The REST adapter against real HTTP servers on 127.0.0.1: paging, auth, retries, targets."""
