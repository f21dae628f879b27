package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts below run atomically in Redis. Each touches the keys of
// one account only (its token hash and its lease, which share the hash tag
// {account} and therefore one Redis Cluster slot), and each names them in
// KEYS, as Redis Cluster and Valkey require.
//
// The token hash has three fields: v, the record version (incremented by
// every write); rh, the SHA-256 of the refresh token in hex ("" for none);
// and d, the encoded token (record.go).

// peekScript reads a token and the lease's remaining time in one round trip.
//
//	KEYS[1] token hash, KEYS[2] lease
//	returns {v or nil, d or nil, lease PTTL in ms (-2: no lease)}
var peekScript = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'v', 'd')
return {r[1], r[2], redis.call('PTTL', KEYS[2])}
`)

// Status codes the write scripts return as their first element.
const (
	scriptOK       = 1
	scriptConflict = 0
	scriptLeaseErr = -1
)

// saveScript writes a token if its precondition holds.
//
//	KEYS[1] token hash, KEYS[2] lease
//	ARGV[1] "1": conditional write, "0": unconditional
//	ARGV[2] expected version ("": any)
//	ARGV[3] expected refresh token digest ("": no refresh token or nothing stored)
//	ARGV[4] lease owner the writer holds ("": none)
//	ARGV[5] new refresh token digest, ARGV[6] new encoded token
//	ARGV[7] retention in ms (0: keep forever)
//	returns {1, new version} | {0, current version or false} | {-1, lease holder}
//
// A conditional write succeeds when a token is stored whose digest is
// ARGV[3] (and whose version is ARGV[2], if given), or when none is stored
// and ARGV[3] is "". A writer holding a lease is refused if another owner
// now holds it: its lease expired and someone took over.
var saveScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'v', 'rh')
if ARGV[4] ~= '' then
  local holder = redis.call('GET', KEYS[2])
  if holder and holder ~= ARGV[4] then
    return {-1, holder}
  end
end
if ARGV[1] == '1' then
  if cur[1] then
    if (cur[2] or '') ~= ARGV[3] or (ARGV[2] ~= '' and ARGV[2] ~= cur[1]) then
      return {0, cur[1]}
    end
  elseif ARGV[3] ~= '' then
    return {0, false}
  end
end
local v = (tonumber(cur[1]) or 0) + 1
redis.call('HSET', KEYS[1], 'v', v, 'rh', ARGV[5], 'd', ARGV[6])
if tonumber(ARGV[7]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
else
  redis.call('PERSIST', KEYS[1])
end
return {1, v}
`)

// deleteScript removes a token if its precondition holds.
//
//	KEYS[1] token hash
//	ARGV[1] "1": conditional, "0": unconditional
//	ARGV[2] expected version ("": any), ARGV[3] expected refresh token digest
//	returns {1, 0} deleted or nothing stored | {0, current version}
var deleteScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'v', 'rh')
if not cur[1] then
  return {1, 0}
end
if ARGV[1] == '1' and ((cur[2] or '') ~= ARGV[3] or (ARGV[2] ~= '' and ARGV[2] ~= cur[1])) then
  return {0, cur[1]}
end
redis.call('DEL', KEYS[1])
return {1, 0}
`)

// acquireScript takes a free lease.
//
//	KEYS[1] lease, ARGV[1] owner, ARGV[2] TTL in ms
//	returns {1, 0} when acquired, else {0, the holder's remaining time in
//	ms (-1: the lease has no expiry)}
var acquireScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, 0}
end
return {0, redis.call('PTTL', KEYS[1])}
`)

// renewScript extends a lease its owner holds.
//
//	KEYS[1] lease, ARGV[1] owner, ARGV[2] TTL in ms
//	returns 1 when renewed, 0 when the lease is someone else's or gone
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseScript deletes a lease its owner holds.
//
//	KEYS[1] lease, ARGV[1] owner
//	returns 1 when released, 0 when the lease is someone else's or gone
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)
