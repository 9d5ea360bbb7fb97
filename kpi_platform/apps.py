from django.apps import AppConfig


class KpiPlatformConfig(AppConfig):
    name = "kpi_platform"
    verbose_name = "KPI Platform"
