"""Background tasks: long work started from a page runs outside the request that asked for it.

``queue`` writes and claims task rows, ``kinds`` names what each kind runs, ``worker`` runs them
(a thread in the web process, woken when a request that queued one commits, and the scheduler's
``tasks.run_pending`` job, which picks up what a stopped process left behind).
"""
