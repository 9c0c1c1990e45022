"""The only package that talks to MLflow. Nothing outside it imports ``mlflow``."""

from cauce.integrations.mlflow.errors import MlflowError, MlflowNotFound, MlflowUnavailable

__all__ = ["MlflowError", "MlflowNotFound", "MlflowUnavailable"]
