"""The sideband watcher: the server's own, authoritative record of every brokered call.

Modules: ``models`` (the lease: one watcher per call), ``leases`` (claiming, heartbeat, release
— the lease's one write path), ``timers`` (the idle and maximum-duration rules, pure),
``socket`` (attaching to a call's event stream through the upstream client), ``watch`` (one
call followed to its end) and ``watcher`` (the loop that claims calls and keeps their leases).
``manage.py watch_calls`` runs the loop beside Daphne.
"""
