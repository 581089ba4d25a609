"""Redis adapters: the stores, the merged-view cache and their client. Layout: keys.py."""

from gateway.stores.redis.client import redis_client_from_url
from gateway.stores.redis.decision_log import RedisDecisionLog
from gateway.stores.redis.enterprises import RedisEnterpriseStore
from gateway.stores.redis.servers import RedisEnterpriseMCPServerStore, RedisMCPServerStore
from gateway.stores.redis.view_cache import RedisMergedViewCache

__all__ = [
    "RedisDecisionLog",
    "RedisEnterpriseMCPServerStore",
    "RedisEnterpriseStore",
    "RedisMCPServerStore",
    "RedisMergedViewCache",
    "redis_client_from_url",
]
