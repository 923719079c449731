from django.apps import AppConfig


class HumantasksConfig(AppConfig):
    name = "apps.humantasks"
    label = "humantasks"
