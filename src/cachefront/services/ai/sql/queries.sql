-- The AI room's statements (quota_postgres.py, ledger_writer.py, ledger.py, generation.py);
-- SQLAlchemy text with :name parameters.

-- name: hold
-- One statement, one round trip, its own transaction (autocommit): the function of
-- migration 0009 sets the identity (and, behind a transaction pooler, the role) the
-- "begin" event would have, then takes the hold in one conditional upsert of the
-- caller's row, locked only while it runs; refused, it reads the counters instead.
-- The statement's transaction commits without waiting for its WAL to reach the disk
-- (synchronous_commit off, local to it): a counter is not worth an fsync on every
-- call's path, which at a few hundred calls a second was the gateway's p99. A server
-- crash can forget the last fraction of a second of holds (their calls are still in
-- the ledger); the check itself is as strict as ever.
SELECT q.admitted, q.day_tokens, q.minute_requests
  FROM ai_quota_reserve_v1(:uid, :role, :app_role, :owner, :day, :minute, :tokens,
                           :day_limit, :minute_limit) AS q,
       set_config('synchronous_commit', 'off', true);

-- name: quota_now
-- What a caller has used of today's tokens and this minute's requests.
SELECT CASE WHEN day = :day THEN day_tokens ELSE 0 END AS day_tokens,
       CASE WHEN minute = :minute THEN minute_requests ELSE 0 END AS minute_requests
  FROM ai_quotas
 WHERE owner = :owner;

-- name: settle
-- The hold replaced by what the call used (a hold of a day gone by is forgotten), in
-- one statement as the hold is; the number of rows settled back.
-- Committed as the hold is, without waiting for the disk.
SELECT ai_quota_settle_v1(:uid, :role, :app_role, :owner, :day, :reserved, :used) AS settled
  FROM set_config('synchronous_commit', 'off', true);

-- name: record_many
-- A batch of ledger rows in one statement, one array per column (ledger_writer.py);
-- each row keeps the time of its call, not of the batch.
INSERT INTO ai_usage (owner, at, provider, model, prompt_tokens, completion_tokens,
                      latency_ms, cost_usd, saved_usd, cached, ok)
SELECT *
  FROM unnest(CAST(:owner AS text[]), CAST(:at AS timestamptz[]), CAST(:provider AS text[]),
              CAST(:model AS text[]), CAST(:prompt_tokens AS integer[]),
              CAST(:completion_tokens AS integer[]), CAST(:latency_ms AS real[]),
              CAST(:cost_usd AS double precision[]), CAST(:saved_usd AS double precision[]),
              CAST(:cached AS boolean[]), CAST(:ok AS boolean[]));

-- name: used_on_day
-- The tokens a caller's provider calls used on a UTC day, by the ledger: where a day's
-- counter in Redis starts (quota_redis.py).
SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) AS used
  FROM ai_usage
 WHERE owner = :owner AND NOT cached AND at >= :start AND at < :end;

-- name: usage_by_model
-- The ledger since a time, per model, for the rows the transaction may see: a caller's
-- own (the owner filter, and the policy behind it), or everyone's for the service.
SELECT provider, model,
       count(*) FILTER (WHERE NOT cached) AS calls,
       count(*) FILTER (WHERE cached) AS cache_hits,
       coalesce(sum(prompt_tokens) FILTER (WHERE NOT cached), 0) AS prompt_tokens,
       coalesce(sum(completion_tokens) FILTER (WHERE NOT cached), 0) AS completion_tokens,
       coalesce(sum(cost_usd), 0) AS cost_usd,
       coalesce(sum(saved_usd), 0) AS saved_usd
  FROM ai_usage
 WHERE at >= :since AND (CAST(:owner AS text) IS NULL OR owner = :owner)
 GROUP BY provider, model
 ORDER BY provider, model;

-- name: usage_by_owner
-- The admins' view: each caller's totals since a time, heaviest first.
SELECT owner,
       count(*) FILTER (WHERE NOT cached) AS calls,
       count(*) FILTER (WHERE cached) AS cache_hits,
       coalesce(sum(prompt_tokens + completion_tokens) FILTER (WHERE NOT cached), 0) AS tokens,
       coalesce(sum(cost_usd), 0) AS cost_usd,
       coalesce(sum(saved_usd), 0) AS saved_usd
  FROM ai_usage
 WHERE at >= :since
 GROUP BY owner
 ORDER BY tokens DESC, owner
 LIMIT :limit;

-- name: generation_steps
-- The finished steps of one generation job, in order (the caller's own, by the policy).
SELECT step, input_hash, output
  FROM ai_generation_steps
 WHERE job_id = :job_id AND step >= 0
 ORDER BY step;

-- name: save_generation_step
-- A step's output under its input's hash; a step run twice (a retry racing a worker
-- thought dead) keeps the first output.
INSERT INTO ai_generation_steps (job_id, step, input_hash, owner, output)
VALUES (:job_id, :step, :input_hash, :owner, :output)
ON CONFLICT (job_id, step, input_hash) DO NOTHING;

-- name: request_generation_stop
-- The owner's wish that a running generation stop before its next step: a row under
-- step -1, which no step ever has.
INSERT INTO ai_generation_steps (job_id, step, input_hash, owner, output)
VALUES (:job_id, -1, 'stop', :owner, '')
ON CONFLICT (job_id, step, input_hash) DO NOTHING;

-- name: generation_stop_requested
SELECT EXISTS (
    SELECT 1 FROM ai_generation_steps WHERE job_id = :job_id AND step = -1
) AS requested;

-- name: cost_by_provider
-- What the ledger says each provider cost in a window and what the hits saved, for the
-- platform's stats (costs.py); read as the service, every caller's rows.
SELECT provider,
       coalesce(sum(cost_usd), 0) AS cost_usd,
       coalesce(sum(saved_usd), 0) AS saved_usd,
       coalesce(sum(prompt_tokens + completion_tokens) FILTER (WHERE NOT cached), 0) AS tokens
  FROM ai_usage
 WHERE at >= :since AND at < :until
 GROUP BY provider;
-- name: delete_old_usage
-- One batch of ledger rows older than the cut-off, oldest first (retention.py).
DELETE FROM ai_usage
 WHERE id IN (SELECT id FROM ai_usage WHERE at < :cutoff ORDER BY at LIMIT :batch);

-- name: delete_old_generation_steps
-- One batch of the steps of generations that finished before the cut-off, and of steps
-- whose job is gone altogether (written before the cut-off); a running job's stay.
DELETE FROM ai_generation_steps
 WHERE (job_id, step, input_hash) IN (
       SELECT s.job_id, s.step, s.input_hash
         FROM ai_generation_steps s
         LEFT JOIN jobs j ON j.id = s.job_id
        WHERE (j.id IS NULL AND s.created_at < :cutoff)
           OR (j.finished_at < :cutoff AND j.status IN ('succeeded', 'failed', 'cancelled'))
        LIMIT :batch);

-- name: figures_ledger
-- The ledger over [:since, :until) for the room's figures (figures.py), read as the
-- service, in one pass (row-level security is checked once per row, not per figure):
-- per provider and model (kind 'model') and per hour, UTC (kind 'hour'), the provider
-- calls and their failures, the cache hits, the tokens the calls used and the tokens
-- the hits would have cost (a hit's row keeps the usage of the answer it replayed),
-- what the calls cost and what the hits saved. The totals are the models' sums.
SELECT CASE WHEN GROUPING(provider, model) = 0 THEN 'model' ELSE 'hour' END AS kind,
       provider, model, hour,
       count(*) FILTER (WHERE NOT cached) AS calls,
       count(*) FILTER (WHERE NOT cached AND NOT ok) AS failed,
       count(*) FILTER (WHERE cached) AS hits,
       coalesce(sum(prompt_tokens) FILTER (WHERE NOT cached), 0) AS prompt_tokens,
       coalesce(sum(completion_tokens) FILTER (WHERE NOT cached), 0) AS completion_tokens,
       coalesce(sum(prompt_tokens + completion_tokens) FILTER (WHERE cached), 0)
           AS tokens_saved,
       coalesce(sum(cost_usd), 0) AS cost_usd,
       coalesce(sum(saved_usd), 0) AS saved_usd
  FROM (SELECT *, date_trunc('hour', at, 'UTC') AS hour
          FROM ai_usage
         WHERE at >= :since AND at < :until) AS windowed
 GROUP BY GROUPING SETS ((provider, model), (hour))
 ORDER BY kind DESC,
          coalesce(sum(prompt_tokens + completion_tokens) FILTER (WHERE NOT cached), 0) DESC,
          provider, model, hour;

-- name: figures_top_callers
-- The :limit callers whose calls used the most tokens, with what their hits saved.
SELECT owner,
       count(*) FILTER (WHERE NOT cached) AS calls,
       count(*) FILTER (WHERE cached) AS hits,
       coalesce(sum(prompt_tokens + completion_tokens) FILTER (WHERE NOT cached), 0) AS tokens,
       coalesce(sum(prompt_tokens + completion_tokens) FILTER (WHERE cached), 0)
           AS tokens_saved,
       coalesce(sum(cost_usd), 0) AS cost_usd
  FROM ai_usage
 WHERE at >= :since AND at < :until
 GROUP BY owner
 ORDER BY tokens DESC, owner
 LIMIT :limit;

-- name: figures_answers
-- The room's requests over the window by the X-Cache they were answered with (HIT,
-- MISS, COALESCED, BYPASS), from the platform's per-minute request rollups of the
-- room's paths (:prefixes).
SELECT tier, sum(requests)::bigint AS requests
  FROM request_rollups
 WHERE minute >= date_trunc('minute', CAST(:since AS timestamptz), 'UTC')
   AND minute < :until
   AND EXISTS (SELECT 1
                 FROM unnest(CAST(:prefixes AS text[])) AS p(prefix)
                WHERE route = p.prefix OR route LIKE p.prefix || '/%')
 GROUP BY tier;
