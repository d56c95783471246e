-- Legs: each position with the one before it, in event-time order. Shared by the jobs, so in one
-- Flink job the planner reuses a single source and a single OVER operator for all of them.
-- Run after 00_source_iss_location.sql, in the same session.

-- OVER (ORDER BY event_time) without PARTITION BY: Flink 2.2 streaming accepts it and runs the
-- operator on one task. There is one satellite, and positions from different sources
-- (open-notify, then sgp4 after a fallback) belong to the same track, so no partition key.
CREATE TEMPORARY VIEW iss_legs AS
SELECT
  `timestamp`,
  latitude,
  longitude,
  source,
  event_time,
  LAG(`timestamp`) OVER w AS prev_timestamp,
  LAG(latitude) OVER w AS prev_latitude,
  LAG(longitude) OVER w AS prev_longitude
FROM iss_location_clean
WINDOW w AS (ORDER BY event_time);

-- Ground speed along each leg: great-circle (haversine) distance on the 6371 km sphere over the
-- time between the two positions. The first position (no predecessor) and legs with dt <= 0
-- are skipped, as are gaps over 10 minutes (a producer outage): a chord across a long gap
-- says nothing about the speed, and a gap is not an anomaly.
--
-- Anomalies: a leg of 30 s to 10 min whose speed lies outside the physical band is `anomalous`
-- (the jobs write it to iss-events as an `anomaly` and leave it out of speeds, windows and
-- crossings). The band: the ISS's ground speed is 24,400-25,300 km/h at any altitude it flies
-- (370-460 km; 24,660-24,990 km/h at today's ~420 km), and a timestamp 1 s off on a 30-s leg
-- moves a speed by 3.4 %. Shorter legs are not judged: whole-second timestamps make their
-- speeds too coarse for the band. The runner rewrites the two numbers to ISS_FLINK_MIN_SPEED_KMH and
-- ISS_FLINK_MAX_SPEED_KMH.
CREATE TEMPORARY VIEW iss_speed_legs AS
SELECT
  *,
  dt_s BETWEEN 30 AND 600 AND speed_kmh NOT BETWEEN min_speed_kmh AND max_speed_kmh AS anomalous
FROM (
  SELECT
    `timestamp`,
    latitude,
    longitude,
    source,
    event_time,
    prev_timestamp,
    prev_latitude,
    prev_longitude,
    distance_km,
    dt_s,
    distance_km / dt_s * 3600 AS speed_kmh,
    CAST(23500 AS DOUBLE) AS min_speed_kmh,
    CAST(26500 AS DOUBLE) AS max_speed_kmh
  FROM (
    SELECT
      `timestamp`,
      latitude,
      longitude,
      source,
      event_time,
      prev_timestamp,
      prev_latitude,
      prev_longitude,
      `timestamp` - prev_timestamp AS dt_s,
      2 * 6371.0 * ASIN(LEAST(1.0, SQRT(
        POWER(SIN(RADIANS(latitude - prev_latitude) / 2), 2)
        + COS(RADIANS(prev_latitude)) * COS(RADIANS(latitude))
          * POWER(SIN(RADIANS(longitude - prev_longitude) / 2), 2)
      ))) AS distance_km
    FROM iss_legs
    WHERE prev_timestamp IS NOT NULL
  )
  WHERE dt_s > 0 AND dt_s <= 600
);
