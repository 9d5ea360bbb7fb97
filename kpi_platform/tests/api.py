"""Helpers the API tests share: a request by method name, ids put into request templates, and the
ids of a list page."""

MISSING = 987_654  # an id no row has


def send(client, method: str, path: str, body=None):
    """``send(client, "patch", path, body)``: a JSON body when there is one."""
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


def ids(response) -> set[int]:
    """The ids of a list page's rows, after checking it answered 200."""
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def fill(template, refs: dict):
    """Put ids into a request template: ``"/api/v1/teams/{north}/"`` → ``"/api/v1/teams/12/"``, and a
    value that is just ``"{lead}"`` → the id itself (an int). Lists and dicts are filled throughout."""
    if isinstance(template, str):
        name = template[1:-1]
        if template == f"{{{name}}}" and name in refs:
            return refs[name]
        return template.format(**refs)
    if isinstance(template, list):
        return [fill(item, refs) for item in template]
    if isinstance(template, dict):
        return {key: fill(value, refs) for key, value in template.items()}
    return template


def refs_of(*namespaces, **extra) -> dict:
    """The ids of every row in ``namespaces`` (fixtures such as ``org``) by name, then ``extra``."""
    refs = {}
    for namespace in namespaces:
        refs |= {name: row.pk for name, row in vars(namespace).items() if hasattr(row, "pk")}
    return refs | extra
