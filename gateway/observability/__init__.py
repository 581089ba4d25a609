"""What operators watch: Prometheus metrics (metrics.py), the log format (logs.py) and the
Redis pool's waits (redis_pool.py). A leaf package: it imports nothing of the gateway's that
could import it back, so stores, the decider and the middleware may all count into it."""
