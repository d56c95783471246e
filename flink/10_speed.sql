-- Job "speed": the ground speed at each position, to topic iss-speed.
-- Run after 00_source_iss_location.sql and 05_legs.sql, in the same session.
-- Latency: a speed is written as soon as its position arrives (watermark = latest event time).

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
  'sink.delivery-guarantee' = 'at-least-once'
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
FROM iss_speed_legs;
