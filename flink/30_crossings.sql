-- Job "crossings": equator crossings (ascending and descending nodes), antimeridian crossings
-- and anomalies, to topic iss-events. Run after 00_source_iss_location.sql and 05_legs.sql.
--
-- A crossing is found on the leg between two positions and placed by linear interpolation
-- along the leg: `timestamp` is the interpolated crossing time (epoch s, rounded), latitude and
-- longitude the crossing point. Legs over 10 minutes are skipped (the track between the two
-- positions is unknown), and so are anomalous legs. Latency: written as soon as the position
-- after the crossing arrives, visible with the next checkpoint (exactly once, as in 10_speed.sql).
--
-- One position exactly on the equator counts once: "ascending" needs prev < 0 <= lat,
-- "descending" prev >= 0 > lat. The ISS moves east, so antimeridian crossings are "eastward"
-- (+180 to -180); "westward" is kept for completeness.
--
-- An anomaly is a leg of 30 s to 10 min whose ground speed is outside the physical band
-- (05_legs.sql): `timestamp`, latitude and longitude are those of the leg's end, prev_timestamp
-- its start (one bad position makes two anomalies: the legs into and out of it); `reason` says
-- why, with speed_kmh, dt_s and distance_km. Fields a kind of event does not have are left out
-- of its JSON (no nulls): crossings are as they always were.
SET 'execution.checkpointing.interval' = '10 s';

CREATE TABLE iss_events (
  event STRING,
  direction STRING,
  `timestamp` BIGINT,
  eventTime STRING,
  latitude DOUBLE,
  longitude DOUBLE,
  prev_timestamp BIGINT,
  next_timestamp BIGINT,
  source STRING,
  reason STRING,
  speed_kmh DOUBLE,
  dt_s BIGINT,
  distance_km DOUBLE
) WITH (
  'connector' = 'kafka',
  'topic' = 'iss-events',
  'properties.bootstrap.servers' = 'localhost:9092',
  'format' = 'json',
  'json.encode.ignore-null-fields' = 'true',
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = 'isspanel-flink-iss-events',
  'properties.transaction.timeout.ms' = '900000'
);

-- Legs (0 < dt <= 10 min, not anomalous) with the longitude step unwrapped across +-180 (the
-- shortest way round).
CREATE TEMPORARY VIEW iss_crossing_legs AS
SELECT
  *,
  CASE
    WHEN longitude - prev_longitude > 180 THEN longitude - prev_longitude - 360
    WHEN longitude - prev_longitude < -180 THEN longitude - prev_longitude + 360
    ELSE longitude - prev_longitude
  END AS dlon
FROM iss_speed_legs
WHERE NOT anomalous;

INSERT INTO iss_events
SELECT
  event,
  direction,
  crossing_ts,
  DATE_FORMAT(TO_TIMESTAMP_LTZ(crossing_ts, 0), 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
  latitude,
  longitude,
  prev_timestamp,
  next_timestamp,
  source,
  reason,
  speed_kmh,
  dt_s,
  distance_km
FROM (
  -- Equator: f is the fraction of the leg where latitude is 0.
  SELECT
    'equator' AS event,
    CASE WHEN latitude >= 0 THEN 'ascending' ELSE 'descending' END AS direction,
    CAST(ROUND(prev_timestamp + f * (`timestamp` - prev_timestamp)) AS BIGINT) AS crossing_ts,
    0.0 AS latitude,
    CASE
      WHEN prev_longitude + f * dlon > 180 THEN prev_longitude + f * dlon - 360
      WHEN prev_longitude + f * dlon < -180 THEN prev_longitude + f * dlon + 360
      ELSE prev_longitude + f * dlon
    END AS longitude,
    prev_timestamp,
    `timestamp` AS next_timestamp,
    source,
    CAST(NULL AS STRING) AS reason,
    CAST(NULL AS DOUBLE) AS speed_kmh,
    CAST(NULL AS BIGINT) AS dt_s,
    CAST(NULL AS DOUBLE) AS distance_km
  FROM (
    SELECT *, prev_latitude / (prev_latitude - latitude) AS f
    FROM iss_crossing_legs
    WHERE (prev_latitude < 0 AND latitude >= 0) OR (prev_latitude >= 0 AND latitude < 0)
  )
  UNION ALL
  -- Antimeridian: the unwrapped step passes +180 (eastward) or -180 (westward).
  SELECT
    'antimeridian' AS event,
    CASE WHEN dlon > 0 THEN 'eastward' ELSE 'westward' END AS direction,
    CAST(ROUND(prev_timestamp + f * (`timestamp` - prev_timestamp)) AS BIGINT) AS crossing_ts,
    prev_latitude + f * (latitude - prev_latitude) AS latitude,
    CASE WHEN dlon > 0 THEN 180.0 ELSE -180.0 END AS longitude,
    prev_timestamp,
    `timestamp` AS next_timestamp,
    source,
    CAST(NULL AS STRING) AS reason,
    CAST(NULL AS DOUBLE) AS speed_kmh,
    CAST(NULL AS BIGINT) AS dt_s,
    CAST(NULL AS DOUBLE) AS distance_km
  FROM (
    SELECT *, (CASE WHEN dlon > 0 THEN 180 ELSE -180 END - prev_longitude) / dlon AS f
    FROM iss_crossing_legs
    WHERE ABS(longitude - prev_longitude) > 180
  )
  UNION ALL
  -- Anomaly: the leg's speed is outside the band (05_legs.sql).
  SELECT
    'anomaly' AS event,
    CAST(NULL AS STRING) AS direction,
    `timestamp` AS crossing_ts,
    latitude,
    longitude,
    prev_timestamp,
    `timestamp` AS next_timestamp,
    source,
    CONCAT(
      'speed ', CAST(CAST(ROUND(speed_kmh, 0) AS BIGINT) AS STRING), ' km/h over ',
      CAST(dt_s AS STRING), ' s, outside ', CAST(CAST(min_speed_kmh AS BIGINT) AS STRING), '-',
      CAST(CAST(max_speed_kmh AS BIGINT) AS STRING), ' km/h'
    ) AS reason,
    speed_kmh,
    dt_s,
    distance_km
  FROM iss_speed_legs
  WHERE anomalous
);
