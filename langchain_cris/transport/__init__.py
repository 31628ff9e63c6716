"""Getting one decided route onto the wire, and nothing else.

The decision (policy, catalog and source Region → :class:`~langchain_cris.routing.Route`) is made
above this package; here it is carried out:

- :mod:`.clients` — one boto3 bedrock-runtime client per source Region (sync);
- :mod:`.failover` — the sync and async failover loops over a route's candidates, with one
  failure handler and one first-token gate;
- :mod:`.async_support` / :mod:`.async_pool` / :mod:`.async_stream` — the native aiobotocore
  transport (the ``[async]`` extra): availability, the per-(loop, Region) client pool, streams;
- :mod:`.async_send` — Converse/ConverseStream requests through that pool, as langchain-aws
  builds and parses them;
- :mod:`.bedrock_errors` — the one table from Bedrock error codes to two-parent exceptions.
- :mod:`.guard` — the wire guard: a ``before-sign`` hook on every bedrock-runtime client that
  refuses any request other than the route decided for the send in progress.
"""
