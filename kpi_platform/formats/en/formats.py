"""English date and time formats: Django's, with every time as hours and minutes (issue 18).

Django's English "P" drops the minutes on the hour ("11 a.m." beside "12:10 p.m."); "g:i a" writes
"11:00 a.m." and "12:10 p.m.". Russian keeps Django's 24-hour "H:i" ("14:05")."""

TIME_FORMAT = "g:i a"
DATETIME_FORMAT = "N j, Y, g:i a"
SHORT_DATETIME_FORMAT = "m/d/Y g:i a"
