-- Job "stats": statistics per 10-minute tumbling window of event time, to topic iss-stats.
-- Run after 00_source_iss_location.sql and 05_legs.sql, in the same session.
-- The runner rewrites the window size to ISS_FLINK_WINDOW_MINUTES.
--
-- Each row counts the legs that END in the window (the first position of the stream has no
-- leg). Windows are append-only: one final row per window, when the watermark passes its end.
-- Anomalous legs (05_legs.sql) are left out of every figure and counted in `anomalies`: a
-- window with only anomalous legs has `count` 0 and no mean. Exactly once, as in 10_speed.sql:
-- a window open at a stop is restored with the job's state and closes once, after the restart.
-- Latency: the watermark is the latest event time, so a window closes with the first position
-- at or after its end: at one record a minute, within one interval (60 s) of the window end,
-- plus up to one checkpoint interval until its transaction commits.
-- The newest window stays open until such a position arrives.
SET 'execution.checkpointing.interval' = '10 s';

CREATE TABLE iss_stats (
  window_start STRING,
  window_end STRING,
  `count` BIGINT,
  mean_speed_kmh DOUBLE,
  distance_km DOUBLE,
  min_latitude DOUBLE,
  max_latitude DOUBLE,
  first_timestamp BIGINT,
  last_timestamp BIGINT,
  first_event_time STRING,
  last_event_time STRING,
  anomalies BIGINT
) WITH (
  'connector' = 'kafka',
  'topic' = 'iss-stats',
  'properties.bootstrap.servers' = 'localhost:9092',
  'format' = 'json',
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = 'isspanel-flink-iss-stats',
  'properties.transaction.timeout.ms' = '900000'
);

INSERT INTO iss_stats
SELECT
  DATE_FORMAT(window_start, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
  DATE_FORMAT(window_end, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
  COUNT(*) FILTER (WHERE NOT anomalous),
  AVG(speed_kmh) FILTER (WHERE NOT anomalous),
  SUM(distance_km) FILTER (WHERE NOT anomalous),
  MIN(latitude) FILTER (WHERE NOT anomalous),
  MAX(latitude) FILTER (WHERE NOT anomalous),
  MIN(`timestamp`) FILTER (WHERE NOT anomalous),
  MAX(`timestamp`) FILTER (WHERE NOT anomalous),
  DATE_FORMAT(MIN(event_time) FILTER (WHERE NOT anomalous), 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
  DATE_FORMAT(MAX(event_time) FILTER (WHERE NOT anomalous), 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
  COUNT(*) FILTER (WHERE anomalous)
FROM TABLE(TUMBLE(TABLE iss_speed_legs, DESCRIPTOR(event_time), INTERVAL '10' MINUTES))
GROUP BY window_start, window_end;
