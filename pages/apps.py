from django.apps import AppConfig


class PagesConfig(AppConfig):
    """The server-rendered pages: the top floor, which reads every app below it and none reads."""

    name = "pages"
    verbose_name = "Pages"  # no models: never shown
