-- Job "speed": the ground speed at each position, to topic iss-speed.
-- Run after 00_source_iss_location.sql and 05_legs.sql, in the same session.
-- Anomalous legs (05_legs.sql) are not speeds: they go to iss-events as `anomaly` events.
--
-- Exactly once: the sink writes in Kafka transactions, one per checkpoint, committed when the
-- checkpoint completes; the checkpoint holds the source offsets and the state of every operator.
-- A restart from the job's last checkpoint or savepoint aborts what was written after it and
-- computes it again, so a `read_committed` reader sees each row once, even after a crash.
-- Latency: a row becomes visible with the checkpoint after it (at most the interval below, plus
-- the checkpoint's own time). The runner rewrites the interval to ISS_FLINK_CHECKPOINT_S.
-- Each sink's transactional ids start with its own prefix, unique per consumer group and topic
-- (the runner writes '<ISS_FLINK_GROUP>-<topic>'): two jobs with one prefix fence each other.
-- The transaction timeout must not exceed the broker's transaction.max.timeout.ms (15 min by
-- default); Flink's own default (1 h) would be refused.
SET 'execution.checkpointing.interval' = '10 s';

CREATE TABLE iss_speed (
  `timestamp` BIGINT,
  eventTime STRING,
  latitude DOUBLE,
  longitude DOUBLE,
  prev_timestamp BIGINT,
  dt_s BIGINT,
  distance_km DOUBLE,
  speed_kmh DOUBLE,
  source STRING
) WITH (
  'connector' = 'kafka',
  'topic' = 'iss-speed',
  'properties.bootstrap.servers' = 'localhost:9092',
  'format' = 'json',
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = 'isspanel-flink-iss-speed',
  'properties.transaction.timeout.ms' = '900000'
);

INSERT INTO iss_speed
SELECT
  `timestamp`,
  DATE_FORMAT(event_time, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
  latitude,
  longitude,
  prev_timestamp,
  dt_s,
  distance_km,
  speed_kmh,
  source
FROM iss_speed_legs
WHERE NOT anomalous;
