"""CRUD API example.

python app.py            # a short session against the API (Flask's test client), printed
python app.py serve      # serve it on API.PORT; Swagger UI at http://127.0.0.1:5000/api/docs
"""

import sys

from pdip import Pdi
from pdip.api import ApiApp
from pdip.data import DatabaseSessionManager

pdi = Pdi()
pdi.get(DatabaseSessionManager).create_all()
api = pdi.get(ApiApp)  # gunicorn/waitress can serve `app:api` as it is: ApiApp is a WSGI application


def show(response, label):
    body = response.get_json() if response.data else None
    print(f"{label} -> {response.status_code} {body if body is not None else ''}".rstrip())
    return body


def session() -> None:
    client = api.test_client()
    acme, globex = {"X-Tenant-Id": "acme"}, {"X-Tenant-Id": "globex"}
    note = show(client.post("/api/Notes", json={"title": "buy milk"}, headers=acme), "acme POST /api/Notes")
    show(client.post("/api/Notes", json={"title": " "}, headers=acme), "acme POST a blank title")
    show(client.post("/api/Notes", json={"title": "x"}), "POST without a tenant")
    url = f"/api/Notes/{note['id']}"
    show(client.put(url, json={"title": "buy oat milk", "done": True}, headers=acme), f"acme PUT {url}")
    show(client.get(url, headers=globex), f"globex GET {url}")
    titles = [item["title"] for item in show(client.get("/api/Notes", headers=acme), "acme GET /api/Notes")]
    others = show(client.get("/api/Notes", headers=globex), "globex GET /api/Notes")
    show(client.delete(url, headers=acme), f"acme DELETE {url}")
    show(client.get(url, headers=acme), f"acme GET {url}")
    print(f"acme saw {titles}, globex saw {len(others)} notes")


if __name__ == "__main__":
    with pdi:
        if sys.argv[1:2] == ["serve"]:
            api.run()
        else:
            session()
