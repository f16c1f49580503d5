-- Runs once, when the stack's Postgres volume is new: POSTGRES_DB (dagster) holds the
-- instance; ny_taxi holds the trips and zones.
CREATE DATABASE ny_taxi;
