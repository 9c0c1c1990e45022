from django.conf import settings


def cauce(request):
    return {"MLFLOW_PUBLIC_URL": settings.MLFLOW_PUBLIC_URL.rstrip("/")}
