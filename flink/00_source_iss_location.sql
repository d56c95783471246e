-- The ISS position records on topic iss-location, as published by `isspanel produce`:
--   {"timestamp": 1732608000, "latitude": 12.3, "longitude": -45.6,
--    "eventTime": "2024-11-26T08:00:00Z", "source": "sgp4"}
--
-- Run first, in the same session as the other files (Flink SQL client or isspanel.analytics.jobs).
-- In the SQL client, e.g. the speed job:
--   cat flink/00_source_iss_location.sql flink/05_legs.sql flink/10_speed.sql > speed.sql
--   sql-client.sh -j flink-sql-connector-kafka-5.0.0-2.2.jar -f speed.sql
-- The runner rewrites 'topic', 'properties.bootstrap.servers' and 'properties.group.id' to the
-- ISS_* settings; as written here the file targets the local broker's defaults.

-- Windows and the ISO strings written by the jobs are in UTC, whatever the host's zone.
SET 'table.local-time-zone' = 'UTC';
-- A topic with more partitions than keys (all positions share one key) has partitions that never
-- receive a record: mark them idle after 5 s so they do not hold the watermark back.
-- Idleness never moves the watermark by itself: only records do (see the watermark below).
SET 'table.exec.source.idle-timeout' = '5 s';

-- The design we started from named the time column `ts` while the records carry `timestamp`,
-- and read its value as milliseconds. Records carry epoch SECONDS: the column is `timestamp`
-- and TO_TIMESTAMP_LTZ reads it with precision 0 (seconds).
--
-- Malformed input never stops the job: text that is not JSON is skipped
-- ('json.ignore-parse-errors'), missing or mistyped fields become NULL, and rows whose
-- `is_valid` is false are dropped by the view iss_location_clean below. Invalid rows do not move
-- the watermark either, so one bad timestamp (say milliseconds read as seconds: year 56000)
-- cannot make every later record late.
--
-- Watermark and latency: positions come from one producer under one key, so they reach Flink
-- in event-time order, and the watermark is the latest event time itself (no delay). A
-- position's speed is then written as soon as the position arrives (within the 200 ms watermark
-- interval), and a window [start, end) closes with the first position at or after `end`:
-- at one record a minute, results of a window appear at most one interval (60 s) after its end.
-- A delay of D seconds would hold every speed back by one interval and windows by up to D + 60 s.
-- The price: a position older than one already seen (clock step, fallback between sources) is
-- dropped as late.
CREATE TABLE iss_location (
  `timestamp` BIGINT,
  latitude DOUBLE,
  longitude DOUBLE,
  eventTime STRING,
  source STRING,
  event_time AS TO_TIMESTAMP_LTZ(`timestamp`, 0),
  -- 2000-01-01 .. 2100-01-01 in seconds: rejects NULLs and timestamps in milliseconds.
  is_valid AS `timestamp` BETWEEN 946684800 AND 4102444800
    AND latitude BETWEEN -90 AND 90
    AND longitude BETWEEN -180 AND 180,
  WATERMARK FOR event_time AS CASE WHEN is_valid THEN event_time END
) WITH (
  'connector' = 'kafka',
  'topic' = 'iss-location',
  'properties.bootstrap.servers' = 'localhost:9092',
  'properties.group.id' = 'isspanel-flink',
  -- Exactly once across restarts: a restart restores the offsets of the job's last checkpoint
  -- or savepoint (isspanel flink run keeps them under ISS_HOME/flink/state). Without one, the
  -- source resumes at the offsets the group committed at its last checkpoint, and only a group
  -- that never committed reads from the earliest offset.
  'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest',
  'format' = 'json',
  'json.ignore-parse-errors' = 'true',
  'json.fail-on-missing-field' = 'false'
);

-- The records every job reads: well-formed, in range.
CREATE TEMPORARY VIEW iss_location_clean AS
SELECT `timestamp`, latitude, longitude, source, event_time
FROM iss_location
WHERE is_valid IS TRUE;
