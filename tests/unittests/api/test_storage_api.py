"""Data store endpoints: streamed upload and download, ETags, limits, keys, signed URLs, paging."""

import io
import time
import tracemalloc
import unittest
from urllib.parse import parse_qs, urlsplit

from pdip import Pdi
from pdip.api import ApiApp, hash_key
from pdip.storage import DataStores
from tests.support.apps import application
from tests.support.data_store_contract import MIB, digest, pattern

SECRET = "a-secret-of-at-least-32-bytes-for-tests"
FILES = {
    "application.yml": f"""
        API:
          TENANT_REQUIRED: true        # stores belong to the application: their endpoints need none
        CQRS:
          LOGGING: false
        STORAGE:
          SECRET: {SECRET}
          MAX_ITEM_BYTES: 60000000
          STORES:
            uploads: {{KIND: directory, PATH: data/uploads}}
            images: {{KIND: directory, PATH: data/images, MAX_ITEM_BYTES: 100, CONTENT_TYPES: [image/png]}}
            notes: {{KIND: chunks, URL: "sqlite:///{{root}}/notes.db", CHUNK_BYTES: 4}}
    """,
}


class StorageApiTest(unittest.TestCase):
    def setUp(self):
        files = dict(FILES)
        context = application(files)
        self.root, _ = context.__enter__()
        self.addCleanup(context.__exit__, None, None, None)
        text = (self.root / "application.yml").read_text().replace("{root}", str(self.root))
        (self.root / "application.yml").write_text(text)
        self.pdi = Pdi(root_directory=self.root)
        self.addCleanup(self.pdi.cleanup)
        self.client = self.pdi.get(ApiApp).test_client()

    def test_an_upload_is_stored_and_downloaded_with_its_type_and_etag(self):
        created = self.client.put("/api/data/uploads/docs/a.txt", data=b"hello", content_type="text/plain")
        self.assertEqual(created.status_code, 201)
        item = created.get_json()
        self.assertEqual((item["key"], item["size"], item["content_type"]), ("docs/a.txt", 5, "text/plain"))
        self.assertEqual(created.headers["ETag"], f'"{item["etag"]}"')
        self.assertEqual((self.root / "data/uploads/docs/a.txt").read_bytes(), b"hello")

        got = self.client.get("/api/data/uploads/docs/a.txt")
        self.assertEqual((got.status_code, got.data, got.headers["Content-Type"]), (200, b"hello", "text/plain"))
        self.assertEqual((got.headers["ETag"], got.headers["Content-Length"]), (created.headers["ETag"], "5"))
        self.assertIn("GMT", got.headers["Last-Modified"])
        self.assertEqual(
            (got.headers["Content-Security-Policy"], got.headers["X-Content-Type-Options"]), ("sandbox", "nosniff")
        )
        head = self.client.head("/api/data/uploads/docs/a.txt")
        self.assertEqual((head.status_code, head.data, head.headers["Content-Length"]), (200, b"", "5"))

        replaced = self.client.put("/api/data/uploads/docs/a.txt", data=b"bye", content_type="text/plain")
        self.assertEqual(replaced.status_code, 200)
        self.assertNotEqual(replaced.headers["ETag"], created.headers["ETag"])

    def test_if_none_match_with_the_current_etag_answers_304(self):
        etag = self.client.put("/api/data/notes/n.txt", data=b"chunked note").headers["ETag"]
        self.assertEqual(self.client.get("/api/data/notes/n.txt").data, b"chunked note")
        cached = self.client.get("/api/data/notes/n.txt", headers={"If-None-Match": etag})
        self.assertEqual((cached.status_code, cached.data, cached.headers["ETag"]), (304, b"", etag))
        stale = self.client.get("/api/data/notes/n.txt", headers={"If-None-Match": '"old"'})
        self.assertEqual(stale.status_code, 200)

    def test_a_range_is_answered_with_206_and_only_its_bytes(self):
        content = bytes(range(256)) * 10
        etag = self.client.put("/api/data/notes/r.bin", data=content).headers["ETag"]
        part = self.client.get("/api/data/notes/r.bin", headers={"Range": "bytes=10-19"})
        self.assertEqual((part.status_code, part.data), (206, content[10:20]))
        self.assertEqual((part.headers["Content-Range"], part.headers["Content-Length"]), ("bytes 10-19/2560", "10"))
        tail = self.client.get("/api/data/notes/r.bin", headers={"Range": "bytes=-5", "If-Range": etag})
        self.assertEqual((tail.status_code, tail.data), (206, content[-5:]))
        changed = self.client.get("/api/data/notes/r.bin", headers={"Range": "bytes=0-1", "If-Range": '"old"'})
        self.assertEqual((changed.status_code, len(changed.data)), (200, 2560))
        several = self.client.get("/api/data/notes/r.bin", headers={"Range": "bytes=0-1, 5-6"})
        self.assertEqual((several.status_code, several.headers["Accept-Ranges"]), (200, "bytes"))
        past = self.client.get("/api/data/notes/r.bin", headers={"Range": "bytes=5000-5001"})
        self.assertEqual((past.status_code, past.headers["Content-Range"]), (416, "bytes */2560"))
        self.assertIn("outside the item's 2560 bytes", past.get_json()["detail"])

    def test_if_match_and_if_none_match_guard_an_upload_with_412(self):
        etag = self.client.put("/api/data/uploads/g.txt", data=b"1").headers["ETag"]
        refused = self.client.put("/api/data/uploads/g.txt", data=b"2", headers={"If-Match": '"other"'})
        self.assertEqual(refused.status_code, 412)
        self.assertIn("If-Match other does not match", refused.get_json()["detail"])
        exists = self.client.put("/api/data/uploads/g.txt", data=b"2", headers={"If-None-Match": "*"})
        self.assertEqual(exists.status_code, 412)
        self.assertEqual(
            self.client.put("/api/data/uploads/g.txt", data=b"2", headers={"If-Match": etag}).status_code, 200
        )
        self.assertEqual(
            self.client.put("/api/data/uploads/g.txt", data=b"2", headers={"If-Match": "*"}).status_code, 200
        )
        several = self.client.put("/api/data/uploads/g.txt", data=b"3", headers={"If-Match": '"a", "b"'})
        self.assertEqual(several.status_code, 400)
        self.assertEqual(self.client.get("/api/data/uploads/g.txt").data, b"2")

    def test_over_the_limit_is_413_by_declared_length_and_by_counted_bytes(self):
        declared = self.client.put("/api/data/images/big.png", data=b"x" * 101, content_type="image/png")
        self.assertEqual(declared.status_code, 413)
        self.assertEqual(declared.mimetype, "application/problem+json")
        self.assertIn("larger than the limit of 100 bytes", declared.get_json()["detail"])
        undeclared = self.client.put(
            "/api/data/images/big.png",
            input_stream=io.BytesIO(b"x" * 150),
            content_type="image/png",
            environ_overrides={"CONTENT_LENGTH": "", "wsgi.input_terminated": True},
        )
        self.assertEqual(undeclared.status_code, 413)
        self.assertEqual(self.client.get("/api/data/images").get_json()["items"], [])

    def test_a_store_limit_above_the_api_body_limit_applies_to_its_uploads(self):
        two_mib = b"y" * (2 * MIB)  # API.MAX_BODY_BYTES is 1 MiB
        self.assertEqual(self.client.put("/api/data/uploads/two.bin", data=two_mib).status_code, 201)
        self.assertEqual(self.client.get("/api/data/uploads/two.bin").data, two_mib)

    def test_an_unaccepted_content_type_is_415(self):
        refused = self.client.put("/api/data/images/a.gif", data=b"GIF", content_type="image/gif")
        self.assertEqual(refused.status_code, 415)
        self.assertIn("'image/gif' is not accepted (expected one of image/png)", refused.get_json()["detail"])
        self.assertEqual(
            self.client.put("/api/data/images/a.png", data=b"P", content_type="image/png").status_code, 201
        )

    def test_unsafe_keys_are_400_naming_the_key(self):
        refused = self.client.put("/api/data/uploads/a/../b", data=b"x")
        self.assertEqual(refused.status_code, 400)
        self.assertIn("data key 'a/../b'", refused.get_json()["detail"])
        self.assertEqual(self.client.get("/api/data/uploads/a/../b").status_code, 400)
        # a NUL is refused by the API's input checks before the store sees it, naming the field
        refused = self.client.put("/api/data/uploads/a%00b", data=b"x")
        self.assertEqual(refused.status_code, 400)
        self.assertEqual([error["field"] for error in refused.get_json()["errors"]], ["key"])
        self.assertEqual(self.client.get("/api/data/uploads/a%00b").status_code, 400)

    def test_listing_pages_and_delete(self):
        for name in ("c", "a", "b"):
            self.client.put(f"/api/data/notes/list/{name}.txt", data=name.encode())
        first = self.client.get("/api/data/notes?prefix=list/&limit=2").get_json()
        self.assertEqual([item["key"] for item in first["items"]], ["list/a.txt", "list/b.txt"])
        rest = self.client.get(f"/api/data/notes?prefix=list/&after={first['next_after']}").get_json()
        self.assertEqual(([item["key"] for item in rest["items"]], rest["next_after"]), (["list/c.txt"], None))
        self.assertEqual(self.client.get("/api/data/notes?limit=0").status_code, 400)
        unsafe = self.client.get("/api/data/notes?prefix=../x")
        self.assertEqual(unsafe.status_code, 400)
        self.assertIn("'../x'", unsafe.get_json()["detail"])

        self.assertEqual(self.client.delete("/api/data/notes/list/a.txt").status_code, 204)
        gone = self.client.delete("/api/data/notes/list/a.txt")
        self.assertEqual((gone.status_code, gone.get_json()["detail"]), (404, "store 'notes' has no item 'list/a.txt'"))
        self.assertEqual(self.client.get("/api/data/notes/list/a.txt").status_code, 404)
        missing = self.client.get("/api/data/nowhere/x").get_json()
        self.assertEqual(missing["detail"], "no data store named 'nowhere' (configured: images, notes, uploads)")

    def test_signed_urls_download_and_upload_until_they_expire(self):
        self.client.put("/api/data/uploads/s.txt", data=b"signed")
        made = self.client.post("/api/data-urls/uploads/s.txt?seconds=60").get_json()
        self.assertEqual((made["method"], made["presigned"]), ("GET", False))
        self.assertTrue(made["url"].startswith("http://localhost/api/data-signed/uploads/s.txt?expires="))
        self.assertEqual(self.client.get(made["url"]).data, b"signed")

        upload = self.client.post("/api/data-urls/uploads/new.txt?method=PUT").get_json()
        self.assertEqual(self.client.put(upload["url"], data=b"by url").status_code, 201)
        self.assertEqual(self.client.get("/api/data/uploads/new.txt").data, b"by url")
        self.assertEqual(self.client.get(upload["url"]).status_code, 403)  # a PUT URL does not GET

        query = parse_qs(urlsplit(made["url"]).query)
        tampered = made["url"].replace(query["expires"][0], str(int(query["expires"][0]) + 1000))
        self.assertEqual(self.client.get(tampered).status_code, 403)
        other = made["url"].replace("/s.txt?", "/new.txt?")
        self.assertEqual(self.client.get(other).get_json()["title"], "Invalid signature")

        signer = self.pdi.get(DataStores).signer
        expires, signature = signer.sign("GET", "uploads", "s.txt", 10, now=time.time() - 100)
        expired = self.client.get(f"/api/data-signed/uploads/s.txt?expires={expires}&signature={signature}")
        self.assertEqual(expired.status_code, 403)
        self.assertIn("expired", expired.get_json()["detail"])

    def test_the_endpoints_are_described_in_swagger(self):
        spec = self.client.get("/swagger.json").get_json()
        self.assertEqual(set(spec["paths"]["/api/data/{store}/{key}"]) - {"parameters"}, {"get", "put", "delete"})
        listing = spec["paths"]["/api/data/{store}"]["get"]
        self.assertEqual([p["name"] for p in listing["parameters"]], ["store", "prefix", "after", "limit"])
        self.assertEqual(set(spec["definitions"]["DataItem"]["required"]), {"key", "size", "updated_at", "etag"})

    def test_keys_with_spaces_percent_and_question_marks_survive_a_signed_url(self):
        self.assertEqual(
            self.client.put("/api/data/uploads/a%20b/c%25d%3F.txt", data=b"odd").get_json()["key"], "a b/c%d?.txt"
        )
        made = self.client.post("/api/data-urls/uploads/a%20b/c%25d%3F.txt").get_json()
        self.assertIn("/data-signed/uploads/a%20b/c%25d%3F.txt?expires=", made["url"])
        self.assertEqual(self.client.get(made["url"]).data, b"odd")

    def test_url_requests_are_checked(self):
        self.assertEqual(self.client.post("/api/data-urls/uploads/none.txt").status_code, 404)
        bad_method = self.client.post("/api/data-urls/uploads/a.txt?method=DELETE").get_json()
        self.assertEqual(bad_method["detail"], "method: expected GET or PUT, got 'DELETE'")
        too_long = self.client.post("/api/data-urls/uploads/a.txt?method=PUT&seconds=0").get_json()
        self.assertEqual(too_long["detail"], "seconds: expected 1 to 604800, got 0")

    def test_a_50_mib_upload_and_download_keep_memory_flat(self):
        size = 50 * MIB
        source = self.root / "big-source.bin"
        with open(source, "wb") as file:
            file.writelines(pattern(size))
        tracemalloc.start()
        try:
            with open(source, "rb") as body:
                uploaded = self.client.put("/api/data/uploads/big.bin", input_stream=body)
            _, peak_in = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            response = self.client.get("/api/data/uploads/big.bin", buffered=False)
            read = digest(response.response)
            response.close()
            _, peak_out = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        self.assertEqual(uploaded.status_code, 201, uploaded.get_data(as_text=True))
        self.assertEqual(read, digest(pattern(size)))
        self.assertLess(peak_in, 8 * MIB, f"a 50 MiB upload peaked at {peak_in} bytes")
        self.assertLess(peak_out, 8 * MIB, f"a 50 MiB download peaked at {peak_out} bytes")


class StorageApiWithoutStoresTest(unittest.TestCase):
    def test_no_store_no_endpoints_and_no_secret_no_signed_urls(self):
        with Pdi(configurations={"CQRS": {"LOGGING": False}}) as pdi:
            api = pdi.get(ApiApp)
            self.assertFalse([route for route in api.routes if "/data" in route[1]])
            self.assertEqual(api.test_client().get("/api/data/any").status_code, 404)
        configuration = {"STORAGE": {"ENDPOINTS": True}, "CQRS": {"LOGGING": False}}
        with Pdi(configurations=configuration) as pdi:
            client = pdi.get(ApiApp).test_client()
            self.assertEqual(
                client.get("/api/data/any").get_json()["detail"], "no data store named 'any' (configured: none)"
            )

    def test_signed_urls_need_a_secret_and_the_rest_needs_a_credential(self):
        key = "k" * 40
        with application({}) as (root, _):
            configuration = {
                "CQRS": {"LOGGING": False},
                "API": {"AUTHENTICATION": "api_key", "KEYS": [{"NAME": "app", "HASH": hash_key(key)}]},
                "STORAGE": {"STORES": {"files": {"KIND": "directory", "PATH": "files"}}},
            }
            with Pdi(root_directory=root, configurations=configuration) as pdi:
                client = pdi.get(ApiApp).test_client()
                self.assertEqual(client.put("/api/data/files/a.txt", data=b"a").status_code, 401)
                headers = {"X-API-Key": key}
                self.assertEqual(client.put("/api/data/files/a.txt", data=b"a", headers=headers).status_code, 201)
                refused = client.post("/api/data-urls/files/a.txt", headers=headers)
                self.assertEqual(refused.status_code, 501)
                self.assertIn("STORAGE.SECRET", refused.get_json()["detail"])
                unsigned = client.get("/api/data-signed/files/a.txt?expires=1&signature=x")
                self.assertEqual(unsigned.status_code, 501)
