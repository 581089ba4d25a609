"""Redis adapters: the stores, the merged-view cache and their client. Layout: keys.py.
(The decision log's Redis adapter sits beside its port: gateway/audit/redis_log.py.)"""

from gateway.stores.redis.client import redis_client_from_url
from gateway.stores.redis.enterprises import RedisEnterpriseStore
from gateway.stores.redis.servers import RedisEnterpriseMCPServerStore, RedisMCPServerStore
from gateway.stores.redis.view_cache import RedisMergedViewCache

__all__ = [
    "RedisEnterpriseMCPServerStore",
    "RedisEnterpriseStore",
    "RedisMCPServerStore",
    "RedisMergedViewCache",
    "redis_client_from_url",
]
