-- Run once, when the db volume is first initialised: MLflow's backend store lives in its own
-- database on the same server, owned by the same role as Cauce's (POSTGRES_USER).
CREATE DATABASE mlflow;
