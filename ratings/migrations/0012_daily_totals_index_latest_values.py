# A level's figure (K11 ``last``) for a whole company reads each person's latest value of the
# window from this index alone (issue 16). Built in about 10 s at 10 M actions (a write lock).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ratings', '0011_day_aggregates_keep_low_high_and_last'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='dailytotal',
            name='daily_total_company_kpi_day',
        ),
        migrations.AddIndex(
            model_name='dailytotal',
            index=models.Index(fields=['company', 'kpi', 'day'], include=('member', 'last_at', 'last_action_id', 'last_value', 'actions'), name='daily_total_kpi_day_latest'),
        ),
    ]
