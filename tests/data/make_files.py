"""How the committed spreadsheets in this folder were made (LibreOffice was not available on the
machine, so openpyxl wrote them; the formula cell's cached value was then added to the sheet XML
the way Excel and LibreOffice store it: ``<f>1+2</f><v>3</v>``).

Run ``python tests/data/make_files.py`` to make them again.
"""

import datetime
import io
import zipfile
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent


def save(workbook) -> bytes:
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def actions() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Пользователь", "Показатель", "Значение", "Дата", "Внешний ID", "Комментарий"])
    sheet.append(["ann@acme.example", "calls", 3, datetime.datetime(2026, 1, 15, 9, 30), "lo-1", "утро"])
    sheet.append(["e-ann", "calls", 1.5, datetime.date(2026, 1, 16), None, None])
    sheet["D2"].number_format = "DD.MM.YYYY HH:MM"
    sheet["D3"].number_format = "DD.MM.YYYY"
    return save(workbook)


def actions_with_formula() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["user", "kpi", "value", "occurred_at", "external_id"])
    sheet.append(["ann@acme.example", "calls", "=1+2", datetime.datetime(2026, 1, 15, 9, 30), "f-1"])
    content = save(workbook)
    source, output = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<f>1+2</f><v></v>", b"<f>1+2</f><v>3</v>").replace(
                    b"<f>1+2</f><v />", b"<f>1+2</f><v>3</v>"
                )
                assert b"<v>3</v>" in data, data
            target.writestr(item, data)
    return output.getvalue()


if __name__ == "__main__":
    (HERE / "actions.xlsx").write_bytes(actions())
    (HERE / "actions-formula.xlsx").write_bytes(actions_with_formula())
