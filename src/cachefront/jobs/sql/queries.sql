-- The job system's own statements (jobs/records.py, jobs/queue.py, jobs/supervisor.py).
-- Those with %(name)s parameters go to the driver as they are (exec_driver_sql,
-- procrastinate's connector); the others are SQLAlchemy text with :name parameters.

-- name: lock_owner
-- Serialises the result writes of one owner, so two jobs finishing together cannot
-- both fit in the room the quota has for one. Transaction-scoped: the commit frees it.
SELECT pg_advisory_xact_lock(hashtextextended(%(owner)s, 4));

-- name: detach_old_periodic_jobs
-- procrastinate_periodic_defers points (without ON DELETE) at the last job of each
-- periodic task; a task run less often than the retention would make procrastinate's
-- delete fail on that reference, so it is cleared first for the jobs about to go.
UPDATE procrastinate_periodic_defers AS defer
   SET job_id = NULL
  FROM procrastinate_jobs AS job
 WHERE defer.job_id = job.id
   AND job.status IN ('succeeded', 'failed', 'cancelled', 'aborted')
   AND NOT EXISTS (
       SELECT 1 FROM procrastinate_events AS event
        WHERE event.job_id = job.id
          AND event.at >= now() - make_interval(hours => %(hours)s)
   );

-- name: probe
-- The supervisor's check that the database takes a connection and answers a query.
SELECT 1;

-- name: notify_job_change
-- Tells every process's event streams (jobs/events.py) that a job's status or progress
-- changed; the payload is its id. Sent inside the transaction that made the change, so
-- it is delivered at its commit, once the change can be read, and never if it rolls back.
SELECT pg_notify(:channel, :job_id);
