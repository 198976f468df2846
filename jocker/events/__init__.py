"""Events as Docker reports them (`docker events`, `GET /events`): one
journal, many writers, many readers.

    journal.py   the append-only JSON-lines file and its one write (tiny,
                 standard library only: the per-container supervisor uses it)
    produce.py   the engine's producers: a container, image, volume or network
                 event with Docker's attributes, never failing the operation
    query.py     reading it back: --since/--until, filters, following

The line `jocker events` prints is jocker.format.event_line. Kept empty on purpose: importing `jocker.events.journal` must stay cheap."""
