"""Spreadsheets made the way people make them: openpyxl for xlsx, the csv module for csv."""

import csv
import io

import openpyxl
from django.core.files.uploadedfile import SimpleUploadedFile

ACTION_HEADER = ["user", "kpi", "value", "occurred_at", "external_id", "comment"]


def xlsx_bytes(rows: list[list]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def csv_bytes(rows: list[list], *, delimiter: str = ",", bom: bool = False) -> bytes:
    output = io.StringIO()
    csv.writer(output, delimiter=delimiter).writerows(rows)
    return ("\ufeff" if bom else "").encode() + output.getvalue().encode()


def upload(content: bytes, name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)
