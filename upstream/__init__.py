"""The one client for the voice API upstream (OpenAI, Azure OpenAI or the local engine).

Modules: ``errors`` (the single error type), ``session_config`` (what a session is allowed to be),
``realtime`` (REST over one shared httpx client) and ``realtime_socket`` (server-side WebSocket
sessions). Which service is behind ``OPENAI_BASE_URL`` is a matter of settings only.
"""
