"""The Lua scripts of the Redis stores. Each touches the keys of one hash slot only (Redis
Cluster runs nothing else), and does the multi-key part of one write atomically."""

from __future__ import annotations

# KEYS: record, index, generation [, owner record, owner's deletion mark]. ARGV: value, server
# id. Returns the new generation, 0 when the id exists, -2 when the owner is gone or being
# deleted (an enterprise server cannot outlive its enterprise's deletion).
CREATE_SERVER = """
if #KEYS > 3 and (redis.call('EXISTS', KEYS[4]) == 0 or redis.call('EXISTS', KEYS[5]) == 1) then
  return -2
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('SADD', KEYS[2], ARGV[2])
return redis.call('INCR', KEYS[3])
"""

# KEYS: record, generation. ARGV: value, expected `updated_at` ('' = any). Returns the new
# generation, 0 when missing, -1 when the stored `updated_at` is not the expected one.
REPLACE_SERVER = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if ARGV[2] ~= '' and cjson.decode(current)['updated_at'] ~= ARGV[2] then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
return redis.call('INCR', KEYS[2])
"""

# KEYS: record, index, generation. ARGV: server id, expected `updated_at` ('' = any).
# Returns the deleted value, nil when missing, -1 when changed since it was read.
DELETE_SERVER = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
if ARGV[2] ~= '' and cjson.decode(value)['updated_at'] ~= ARGV[2] then return -1 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[3])
return value
"""


# KEYS: key. ARGV: expected, new ('' deletes). Compare-and-set of a string key.
COMPARE_AND_SET = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
"""

# KEYS: hash. ARGV: field1, expected1, field2, expected2, ... Deletes the fields whose value
# is still the one the caller saw (a concurrent writer's newer value survives).
HASH_COMPARE_AND_DELETE = """
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return n
"""

# KEYS: enterprise, members, version. ARGV: value, owner id. All or nothing, so that a
# repair racing the original creator cannot add a second owner or bump the version twice.
CREATE_ENTERPRISE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], 'owner')
return redis.call('INCR', KEYS[3])
"""

# KEYS: members or invitations hash, version, record, deleting mark. ARGV: expected
# version, user id, value ('' removes). Returns the new version, -1 when the roster changed
# since the caller read it, -2 when the enterprise is gone or being deleted.
SET_ROSTER_ENTRY = """
if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('EXISTS', KEYS[4]) == 1 then return -2 end
if tonumber(redis.call('GET', KEYS[2]) or '0') ~= tonumber(ARGV[1]) then return -1 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[2])
else
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
end
return redis.call('INCR', KEYS[2])
"""

# KEYS: invitations, members, version, record, deleting mark. ARGV: user id. Turns the
# invitation into a membership with its role; false when there is none (or no enterprise).
ACCEPT = """
if redis.call('EXISTS', KEYS[4]) == 0 or redis.call('EXISTS', KEYS[5]) == 1 then return false end
local invitation = redis.call('HGET', KEYS[1], ARGV[1])
if not invitation then return false end
local role = cjson.decode(invitation)['role']
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], role)
redis.call('INCR', KEYS[3])
return role
"""

# KEYS: invitations, version. ARGV: user id. 1 when an invitation was dropped, else 0.
DECLINE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('INCR', KEYS[2])
return 1
"""

# KEYS: record, deleting mark, version, generation. ARGV: expected record, now (ms).
# 1 when marked, 0 when missing or already being deleted, -1 when the record changed.
BEGIN_DELETE = """
local current = redis.call('GET', KEYS[1])
if not current or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if ARGV[1] ~= '' and current ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('INCR', KEYS[3])
redis.call('INCR', KEYS[4])
return 1
"""


# The decision log's append (gateway/audit/redis_log.py).
# KEYS: stream, head, time index, then for each record its decision-id key and its index
# keys. ARGV: expected head seq, expected head hash, ttl (s), record count, then for each
# record: seq, hash, timestamp (ms), JSON, index count. Appends only when the head is the
# one the caller sealed the batch after; else returns {0, seq, hash} of the real head and
# the caller seals the batch again after it. Returns {1, seq, hash, bytes kept, oldest
# timestamp kept (ms)}: the caller trims when the log is over its budget.
APPEND_DECISIONS = """
local seq = redis.call('HGET', KEYS[2], 'seq') or '0'
local hash = redis.call('HGET', KEYS[2], 'hash') or ARGV[2]
if seq ~= ARGV[1] or (seq ~= '0' and hash ~= ARGV[2]) then return {0, seq, hash} end
local ttl = tonumber(ARGV[3])
local k, a, added = 4, 5, 0
for _ = 1, tonumber(ARGV[4]) do
  local n = tonumber(ARGV[a + 4])
  local indexes = {}
  for j = 1, n do indexes[j] = KEYS[k + j] end
  redis.call('XADD', KEYS[1], '0-' .. ARGV[a], 'r', ARGV[a + 3], 'h', ARGV[a + 1],
    't', ARGV[a + 2], 'd', KEYS[k], 'i', table.concat(indexes, ' '))
  redis.call('SET', KEYS[k], ARGV[a], 'EX', ttl)
  for j = 1, n do
    redis.call('ZADD', KEYS[k + j], ARGV[a], ARGV[a])
    redis.call('EXPIRE', KEYS[k + j], ttl)
  end
  redis.call('ZADD', KEYS[3], ARGV[a + 2], ARGV[a])
  added = added + #ARGV[a + 3]
  seq, hash = ARGV[a], ARGV[a + 1]
  k, a = k + 1 + n, a + 5
end
redis.call('HSET', KEYS[2], 'seq', seq, 'hash', hash)
local kept = redis.call('HINCRBY', KEYS[2], 'bytes', added)
local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
return {1, seq, hash, kept, oldest[2] or '0'}
"""

# Retention: removes the oldest records the caller read (a prefix of the stream).
# KEYS: stream, head, time index, then for each record its decision-id key and its index
# keys. ARGV: record count, then for each: seq, hash, JSON length, index count, then the
# signed checkpoint of the last one: seq, hash, at, reason, mac. A record another replica
# removed first is skipped. The checkpoint becomes the floor the chain starts from
# (`gateway audit verify` checks its signature, then the first record kept against it).
TRIM_DECISIONS = """
local k, a, removed = 4, 2, 0
for _ = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a + 3])
  if redis.call('XDEL', KEYS[1], '0-' .. ARGV[a]) == 1 then
    redis.call('HINCRBY', KEYS[2], 'bytes', -tonumber(ARGV[a + 2]))
    redis.call('ZREM', KEYS[3], ARGV[a])
    if redis.call('GET', KEYS[k]) == ARGV[a] then redis.call('DEL', KEYS[k]) end
    for j = 1, n do redis.call('ZREM', KEYS[k + j], ARGV[a]) end
    removed = removed + 1
  end
  k, a = k + 1 + n, a + 4
end
if tonumber(redis.call('HGET', KEYS[2], 'floor_seq') or '0') < tonumber(ARGV[a]) then
  redis.call('HSET', KEYS[2], 'floor_seq', ARGV[a], 'floor_hash', ARGV[a + 1],
    'floor_at', ARGV[a + 2], 'floor_reason', ARGV[a + 3], 'floor_mac', ARGV[a + 4])
end
return removed
"""
