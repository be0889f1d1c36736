"""Web tasks (WebArena's eval format plus database checks), judged from a site's own state."""
