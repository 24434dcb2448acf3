/*
 * state_redis_lua.h - the Lua scripts of the Redis state backend, as C
 * string constants (included by state_redis.c only).
 *
 * Why scripts: every transition reads the task, decides and writes the task,
 * the job counters and the lease index as ONE atomic step on the server;
 * no WATCH/MULTI retry loops, no window in which a second worker can see a
 * half-made claim. Why TIME inside the scripts: leases then run on the
 * Redis clock, so a worker with a wrong clock can neither steal a live task
 * nor keep an expired one (Redis >= 5 replicates script effects, which
 * makes TIME before a write allowed).
 *
 * Keys built inside a script (task keys from a prefix) always carry the
 * job's hash tag, so on Redis Cluster they are in the slot of KEYS[1].
 *
 * Replies are arrays of strings; the first element names the outcome.
 * `op` arguments are the caller's operation ids: the task remembers the id
 * of the last mutation applied to it, so the same call repeated after a lost
 * reply is answered as applied instead of being applied twice.
 */
#ifndef VM_STATE_REDIS_LUA_H
#define VM_STATE_REDIS_LUA_H

#define VM_SR_LUA_PRELUDE                                                        \
    "local function now_ms()\n"                                                  \
    "  local t = redis.call('TIME')\n"                                           \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"       \
    "end\n"                                                                      \
    "local function fmt(n) return string.format('%.0f', n) end\n"

/* KEYS: job. ARGV: id, record. -> 'CREATED' | 'UPDATED' */
static const char vm_sr_lua_job_put[] = VM_SR_LUA_PRELUDE
    "local now = fmt(now_ms())\n"
    "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
    "  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'record', ARGV[2], 'state', 'planning',\n"
    "    'created_ms', now, 'updated_ms', now, 'token_seq', 0, 'tasks_total', 0,\n"
    "    'tasks_pending', 0, 'tasks_running', 0, 'tasks_done', 0, 'tasks_failed', 0,\n"
    "    'rows_read', 0, 'rows_written', 0, 'cancel_ms', 0)\n"
    "  return 'CREATED'\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'record', ARGV[2], 'updated_ms', now)\n"
    "return 'UPDATED'\n";

/* KEYS: job. ARGV: state. -> 'OK' | 'NOT_FOUND' */
static const char vm_sr_lua_job_state[] = VM_SR_LUA_PRELUDE
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOT_FOUND' end\n"
    "redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated_ms', fmt(now_ms()))\n"
    "return 'OK'\n";

/* KEYS: job, tasks. ARGV: task key prefix, then id, json pairs.
 * -> {'OK', added} | {'NOT_FOUND'} | {'CONFLICT', id}
 * All ids are checked before anything is written. */
static const char vm_sr_lua_tasks_put[] = VM_SR_LUA_PRELUDE
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {'NOT_FOUND'} end\n"
    "local seen = {}\n"
    "for i = 2, #ARGV, 2 do\n"
    "  local id, js = ARGV[i], ARGV[i + 1]\n"
    "  local cur = seen[id] or redis.call('HGET', ARGV[1] .. id, 'task')\n"
    "  if cur and cur ~= js then return {'CONFLICT', id} end\n"
    "  seen[id] = js\n"
    "end\n"
    "local now = fmt(now_ms())\n"
    "local added = 0\n"
    "for i = 2, #ARGV, 2 do\n"
    "  local k = ARGV[1] .. ARGV[i]\n"
    "  if redis.call('EXISTS', k) == 0 then\n"
    "    redis.call('HSET', k, 'task', ARGV[i + 1], 'state', 'pending', 'token', 0,\n"
    "      'attempts', 0, 'rows_read', 0, 'rows_written', 0, 'updated_ms', now)\n"
    "    redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i])\n"
    "    added = added + 1\n"
    "  end\n"
    "end\n"
    "if added > 0 then redis.call('HINCRBY', KEYS[1], 'tasks_pending', added) end\n"
    "redis.call('HSET', KEYS[1], 'tasks_total', redis.call('ZCARD', KEYS[2]),\n"
    "  'updated_ms', now)\n"
    "return {'OK', tostring(added)}\n";

/* KEYS: task, job, leases. ARGV: task id, worker, lease_ms, op.
 * -> {outcome, owner, token, lease_until, attempts, cursor, rows_read,
 *     rows_written, prior_claim (0|1)}, outcome CLAIMED | BUSY | DONE |
 *     FAILED | CANCELLED | NOT_FOUND. prior_claim: the task had a token
 *     before (a reset keeps it), so an earlier claim may have written rows
 *     past the checkpoint. */
static const char vm_sr_lua_claim[] = VM_SR_LUA_PRELUDE
    "local f = redis.call('HMGET', KEYS[1], 'state', 'owner', 'token', 'lease_until',\n"
    "  'attempts', 'cursor', 'rows_read', 'rows_written', 'op')\n"
    "local st = f[1]\n"
    "if not st then return {'NOT_FOUND'} end\n"
    "local prior = (tonumber(f[3]) or 0) > 0 and '1' or '0'\n"
    "local function reply(what)\n"
    "  return {what, f[2], f[3], f[4], f[5], f[6], f[7], f[8], prior}\n"
    "end\n"
    "if f[9] == ARGV[4] and st == 'running' and f[2] == ARGV[2] then\n"
    "  return reply('CLAIMED')\n"
    "end\n"
    "if st == 'done' then return reply('DONE') end\n"
    "if st == 'failed' then return reply('FAILED') end\n"
    "if (tonumber(redis.call('HGET', KEYS[2], 'cancel_ms')) or 0) > 0 then\n"
    "  return reply('CANCELLED')\n"
    "end\n"
    "local now = now_ms()\n"
    "if st == 'running' and f[2] ~= ARGV[2] and (tonumber(f[4]) or 0) >= now then\n"
    "  return reply('BUSY')\n"
    "end\n"
    "local token = tostring(redis.call('HINCRBY', KEYS[2], 'token_seq', 1))\n"
    "local lease = fmt(now + tonumber(ARGV[3]))\n"
    "local att = tostring(redis.call('HINCRBY', KEYS[1], 'attempts', 1))\n"
    "redis.call('HSET', KEYS[1], 'state', 'running', 'owner', ARGV[2], 'token', token,\n"
    "  'lease_until', lease, 'op', ARGV[4], 'updated_ms', fmt(now))\n"
    "redis.call('HSETNX', KEYS[1], 'first_claim_ms', fmt(now))\n"
    "redis.call('ZADD', KEYS[3], lease, ARGV[1])\n"
    "if st == 'pending' then\n"
    "  redis.call('HINCRBY', KEYS[2], 'tasks_pending', -1)\n"
    "  redis.call('HINCRBY', KEYS[2], 'tasks_running', 1)\n"
    "end\n"
    "return {'CLAIMED', ARGV[2], token, lease, att, f[6], f[7], f[8], prior}\n";

/* KEYS: task, leases. ARGV: task id, token, lease_ms.
 * -> {'OK', lease_until} | {'FENCED', state, owner, token} | {'NOT_FOUND'} */
static const char vm_sr_lua_heartbeat[] = VM_SR_LUA_PRELUDE
    "local f = redis.call('HMGET', KEYS[1], 'state', 'token', 'owner')\n"
    "if not f[1] then return {'NOT_FOUND'} end\n"
    "if f[1] ~= 'running' or f[2] ~= ARGV[2] then return {'FENCED', f[1], f[3], f[2]} end\n"
    "local lease = fmt(now_ms() + tonumber(ARGV[3]))\n"
    "redis.call('HSET', KEYS[1], 'lease_until', lease)\n"
    "redis.call('ZADD', KEYS[2], lease, ARGV[1])\n"
    "return {'OK', lease}\n";

/* KEYS: task, job, leases. ARGV: task id, token, has_cursor (0|1), cursor,
 * d_read, d_written, lease_ms, op.
 * -> {'OK', lease_until} | {'FENCED', state, owner, token} | {'NOT_FOUND'} */
static const char vm_sr_lua_checkpoint[] = VM_SR_LUA_PRELUDE
    "local f = redis.call('HMGET', KEYS[1], 'state', 'token', 'owner', 'op', 'lease_until')\n"
    "if not f[1] then return {'NOT_FOUND'} end\n"
    "if f[4] == ARGV[8] and f[1] == 'running' and f[2] == ARGV[2] then\n"
    "  return {'OK', f[5]}\n"
    "end\n"
    "if f[1] ~= 'running' or f[2] ~= ARGV[2] then return {'FENCED', f[1], f[3], f[2]} end\n"
    "local now = now_ms()\n"
    "local lease = fmt(now + tonumber(ARGV[7]))\n"
    "if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'cursor', ARGV[4]) end\n"
    "redis.call('HINCRBY', KEYS[1], 'rows_read', ARGV[5])\n"
    "redis.call('HINCRBY', KEYS[1], 'rows_written', ARGV[6])\n"
    "redis.call('HINCRBY', KEYS[2], 'rows_read', ARGV[5])\n"
    "redis.call('HINCRBY', KEYS[2], 'rows_written', ARGV[6])\n"
    "redis.call('HSET', KEYS[1], 'lease_until', lease, 'op', ARGV[8], 'updated_ms', fmt(now))\n"
    "redis.call('ZADD', KEYS[3], lease, ARGV[1])\n"
    "return {'OK', lease}\n";

/* KEYS: task, job, leases. ARGV: task id, token, final (done|failed),
 * has_error (0|1), error, op.
 * -> {'APPLIED', state} | {'ALREADY', state} | {'FENCED', state, owner,
 *     token} | {'NOT_FOUND'} */
static const char vm_sr_lua_finish[] = VM_SR_LUA_PRELUDE
    "local f = redis.call('HMGET', KEYS[1], 'state', 'token', 'owner', 'op')\n"
    "if not f[1] then return {'NOT_FOUND'} end\n"
    "local final = f[1] == 'done' or f[1] == 'failed'\n"
    "if final and f[4] == ARGV[6] and f[2] == ARGV[2] then return {'APPLIED', f[1]} end\n"
    "if final then return {'ALREADY', f[1]} end\n"
    "if f[1] ~= 'running' or f[2] ~= ARGV[2] then return {'FENCED', f[1], f[3], f[2]} end\n"
    "local fin = fmt(now_ms())\n"
    "redis.call('HSET', KEYS[1], 'state', ARGV[3], 'op', ARGV[6], 'updated_ms', fin,\n"
    "  'finished_ms', fin)\n"
    "if ARGV[4] == '1' then redis.call('HSET', KEYS[1], 'error', ARGV[5])\n"
    "elseif ARGV[3] == 'done' then redis.call('HDEL', KEYS[1], 'error') end\n"
    "redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "redis.call('HINCRBY', KEYS[2], 'tasks_running', -1)\n"
    "redis.call('HINCRBY', KEYS[2], 'tasks_' .. ARGV[3], 1)\n"
    "return {'APPLIED', ARGV[3]}\n";

/* KEYS: task, job, leases. ARGV: task id.
 * -> {'OK', previous state} | {'DONE'} | {'BUSY', owner, lease_until} |
 *    {'NOT_FOUND'}. Idempotent by nature: a pending task is left alone. */
static const char vm_sr_lua_reset[] = VM_SR_LUA_PRELUDE
    "local f = redis.call('HMGET', KEYS[1], 'state', 'lease_until', 'owner')\n"
    "if not f[1] then return {'NOT_FOUND'} end\n"
    "if f[1] == 'pending' then return {'OK', 'pending'} end\n"
    "if f[1] == 'done' then return {'DONE'} end\n"
    "local now = now_ms()\n"
    "if f[1] == 'running' and (tonumber(f[2]) or 0) >= now then\n"
    "  return {'BUSY', f[3], f[2]}\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'state', 'pending', 'attempts', 0, 'updated_ms', fmt(now))\n"
    "redis.call('HDEL', KEYS[1], 'owner', 'op')\n"
    "redis.call('ZREM', KEYS[3], ARGV[1])\n"
    "redis.call('HINCRBY', KEYS[2], 'tasks_' .. f[1], -1)\n"
    "redis.call('HINCRBY', KEYS[2], 'tasks_pending', 1)\n"
    "return {'OK', f[1]}\n";

/* KEYS: job. -> {'OK', state, cancel_ms, applied (0|1)} | {'NOT_FOUND'}.
 * A job that is over is not marked; a second request keeps the first time. */
static const char vm_sr_lua_job_cancel[] = VM_SR_LUA_PRELUDE
    "local f = redis.call('HMGET', KEYS[1], 'state', 'cancel_ms')\n"
    "if not f[1] then return {'NOT_FOUND'} end\n"
    "local c = tonumber(f[2]) or 0\n"
    "if f[1] == 'done' or f[1] == 'failed' or f[1] == 'cancelled' or c > 0 then\n"
    "  return {'OK', f[1], fmt(c), '0'}\n"
    "end\n"
    "local now = fmt(now_ms())\n"
    "redis.call('HSET', KEYS[1], 'cancel_ms', now, 'updated_ms', now)\n"
    "return {'OK', f[1], now, '1'}\n";

/* KEYS: job. -> {'OK', previous state} | {'NOT_FOUND'}. Idempotent. */
static const char vm_sr_lua_job_resume[] = VM_SR_LUA_PRELUDE
    "local st = redis.call('HGET', KEYS[1], 'state')\n"
    "if not st then return {'NOT_FOUND'} end\n"
    "local now = fmt(now_ms())\n"
    "redis.call('HSET', KEYS[1], 'cancel_ms', 0, 'updated_ms', now)\n"
    "if st == 'done' or st == 'failed' or st == 'cancelled' then\n"
    "  redis.call('HSET', KEYS[1], 'state', 'running')\n"
    "end\n"
    "return {'OK', st}\n";

/* KEYS: task. ARGV: token, retries, splits, changed, truncated, run_ms.
 * -> {'OK'} | {'FENCED', state, owner, token} | {'NOT_FOUND'}. No op id:
 * the caller does not repeat it (vm_state.h). */
static const char vm_sr_lua_stats_add[] =
    "local f = redis.call('HMGET', KEYS[1], 'state', 'token', 'owner')\n"
    "if not f[1] then return {'NOT_FOUND'} end\n"
    "if f[1] ~= 'running' or f[2] ~= ARGV[1] then return {'FENCED', f[1], f[3], f[2]} end\n"
    "local names = {'retries', 'splits', 'changed', 'truncated', 'run_ms'}\n"
    "for i = 1, 5 do\n"
    "  if ARGV[i + 1] ~= '0' then redis.call('HINCRBY', KEYS[1], names[i], ARGV[i + 1]) end\n"
    "end\n"
    "return {'OK'}\n";

/* KEYS: job. ARGV: report. -> 'OK' | 'NOT_FOUND' */
static const char vm_sr_lua_report_put[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOT_FOUND' end\n"
    "redis.call('HSET', KEYS[1], 'report', ARGV[1])\n"
    "return 'OK'\n";

/* KEYS: workers. ARGV: worker, task, rows. -> 'OK'. The value is
 * "task beat_ms rows"; the hash expires a day after the last beat. */
static const char vm_sr_lua_worker_beat[] = VM_SR_LUA_PRELUDE
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. fmt(now_ms()) .. ' ' .. ARGV[3])\n"
    "redis.call('PEXPIRE', KEYS[1], 86400000)\n"
    "return 'OK'\n";

/* KEYS: workers. ARGV: drop_after_ms. -> now, then worker, value per live
 * worker; older entries are removed. */
static const char vm_sr_lua_workers[] = VM_SR_LUA_PRELUDE
    "local now = now_ms()\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "local out = {fmt(now)}\n"
    "for i = 1, #all, 2 do\n"
    "  local beat = tonumber(string.match(all[i + 1], '^%S+ (%S+)')) or 0\n"
    "  if now - beat > tonumber(ARGV[1]) then\n"
    "    redis.call('HDEL', KEYS[1], all[i])\n"
    "  else\n"
    "    out[#out + 1] = all[i]\n"
    "    out[#out + 1] = all[i + 1]\n"
    "  end\n"
    "end\n"
    "return out\n";

/* KEYS: leases. -> ids of running tasks with lease_until < now */
static const char vm_sr_lua_expired[] = VM_SR_LUA_PRELUDE
    "return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. fmt(now_ms()))\n";

/* KEYS: tasks. ARGV: task key prefix, start, stop.
 * -> flat array: id, then the VM_SR_NFIELDS status fields, per task */
static const char vm_sr_lua_list[] =
    "local ids = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3])\n"
    "local out = {}\n"
    "for _, id in ipairs(ids) do\n"
    "  local f = redis.call('HMGET', ARGV[1] .. id, 'state', 'owner', 'token',\n"
    "    'lease_until', 'attempts', 'cursor', 'rows_read', 'rows_written', 'error', 'task',\n"
    "    'first_claim_ms', 'finished_ms', 'retries', 'splits', 'changed', 'truncated',\n"
    "    'run_ms')\n"
    "  out[#out + 1] = id\n"
    "  for j = 1, 17 do out[#out + 1] = f[j] end\n"
    "end\n"
    "return out\n";

/* KEYS: the job's leader key (a string: the holder's id, with a TTL: the
 * lease, on the server's clock). ARGV: 'acquire' | 'renew' | 'release',
 * owner, lease_ms. -> {'HELD', lease_ms} | {'BUSY', holder, pttl} |
 * {'NONE'} (renew: nobody holds it; release: not ours) | {'RELEASED'}.
 * Idempotent. */
static const char vm_sr_lua_leader[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if ARGV[1] == 'release' then\n"
    "  if cur == ARGV[2] then redis.call('DEL', KEYS[1]) return {'RELEASED'} end\n"
    "  return {'NONE'}\n"
    "end\n"
    "if cur == ARGV[2] then\n"
    "  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
    "  return {'HELD', ARGV[3]}\n"
    "end\n"
    "if cur then return {'BUSY', cur, tostring(redis.call('PTTL', KEYS[1]))} end\n"
    "if ARGV[1] == 'renew' then return {'NONE'} end\n"
    "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
    "return {'HELD', ARGV[3]}\n";

#endif
