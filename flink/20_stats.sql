-- Job "stats": statistics per 10-minute tumbling window of event time, to topic iss-stats.
-- Run after 00_source_iss_location.sql and 05_legs.sql, in the same session.
-- The runner rewrites the window size to ISS_WINDOW_MINUTES.
--
-- Each row counts the legs that END in the window (the first position of the stream has no
-- leg). Windows are append-only: one final row per window, when the watermark passes its end.
-- Latency: the watermark is the latest event time, so a window closes with the first position
-- at or after its end: at one record a minute, within one interval (60 s) of the window end.
-- The newest window stays open until such a position arrives.

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
  last_event_time STRING
) WITH (
  'connector' = 'kafka',
  'topic' = 'iss-stats',
  'properties.bootstrap.servers' = 'localhost:9092',
  'format' = 'json',
  'sink.delivery-guarantee' = 'at-least-once'
);

INSERT INTO iss_stats
SELECT
  DATE_FORMAT(window_start, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
  DATE_FORMAT(window_end, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
  COUNT(*),
  AVG(speed_kmh),
  SUM(distance_km),
  MIN(latitude),
  MAX(latitude),
  MIN(`timestamp`),
  MAX(`timestamp`),
  DATE_FORMAT(MIN(event_time), 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
  DATE_FORMAT(MAX(event_time), 'yyyy-MM-dd''T''HH:mm:ss''Z''')
FROM TABLE(TUMBLE(TABLE iss_speed_legs, DESCRIPTOR(event_time), INTERVAL '10' MINUTES))
GROUP BY window_start, window_end;
