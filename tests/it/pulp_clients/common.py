"""Shared by the generated-client scripts (tests/it/pulp_clients.rs runs them).

argv[1] is a JSON object: {"api": "http://127.0.0.1:<port>", "content": "<content origin>",
"user": …, "password": …, "secrets": [...], …area keys}. Each script calls `main(steps)`;
`steps(run)` drives the clients and records facts with `run.fact(key, value)`. The last line on
stdout is {"facts": {...}, "leaks": [...], "error": null | {"step": …, "exception": …}}; every
response body goes to stderr (so the Rust side can search all of it for a secret).
"""

import json
import sys
import time
import traceback
import urllib.error
import urllib.request

import pulpcore.client.pulp_hugging_face as hf
import pulpcore.client.pulpcore as core


class Run:
    def __init__(self):
        self.args = json.loads(sys.argv[1])
        self.secrets = self.args["secrets"]
        self.facts = {}
        self.leaks = []
        self.step = "start"
        self.hf = hf.ApiClient(self._configuration(hf))
        self.core = core.ApiClient(self._configuration(core))
        self.tasks = core.TasksApi(self.core)

    def _configuration(self, package):
        return package.Configuration(
            host=self.args["api"],
            username=self.args["user"],
            password=self.args["password"],
        )

    def at(self, step):
        """Names the step the next failure is reported under."""
        self.step = step

    def fact(self, key, value):
        self.facts[key] = value
        return value

    def call(self, label, method, *args, **kwargs):
        """Calls a `*_with_http_info` method; scans and logs what came back."""
        self.at(label)
        response = method(*args, **kwargs)
        raw = (response.raw_data or b"").decode("utf-8", "replace")
        print(f"--- {label}: {response.status_code}\n{raw}", file=sys.stderr)
        self.scan(label, raw, response.data)
        return response

    def scan(self, label, raw, data):
        """Records where a secret shows up (never the secret itself)."""
        views = {"body": raw, "repr": repr(data), "str": str(data)}
        if hasattr(data, "to_json"):
            views["to_json"] = data.to_json()
        for where, text in views.items():
            for i, secret in enumerate(self.secrets):
                if secret in text:
                    self.leaks.append(f"{label}: secret #{i} in the {where}")

    def wait(self, label, task_href):
        """Reads a task through TasksApi; records its first state, polls until it ends."""
        task = self.call(label, self.tasks.read_with_http_info, task_href).data
        first = task.state
        deadline = time.monotonic() + 30
        while task.state in ("waiting", "running", "canceling") and time.monotonic() < deadline:
            time.sleep(0.2)
            task = self.call(label, self.tasks.read_with_http_info, task_href).data
        self.fact(f"{label}.first_state", first)
        self.fact(f"{label}.state", task.state)
        self.fact(f"{label}.finished", task.finished_at is not None)
        return task

    def status_of(self, label, method, *args, **kwargs):
        """The HTTP status of a call that may fail (404 after a delete, 400 for a refusal)."""
        self.at(label)
        try:
            response = method(*args, **kwargs)
        except (hf.ApiException, core.ApiException) as e:
            print(f"--- {label}: {e.status}\n{e.body}", file=sys.stderr)
            self.scan(label, e.body or "", None)
            return e.status
        self.scan(label, (response.raw_data or b"").decode("utf-8", "replace"), response.data)
        return response.status_code

    def content(self, label, url, headers=None):
        """GET on the content app; returns the status (urllib: no proxy, no redirects)."""
        self.at(label)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(url, headers=headers or {})
        try:
            with opener.open(request, timeout=30) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as e:
            return e.code


def hidden(obj, name):
    """`is_set` of `name` in an object's `hidden_fields`, None when it is not listed."""
    for field in obj.hidden_fields or []:
        if field.name == name:
            return field.is_set
    return None


def main(steps):
    run = Run()
    error = None
    try:
        steps(run)
    except Exception as e:  # noqa: BLE001 — reported to the Rust side with its step
        traceback.print_exc(file=sys.stderr)
        error = {"step": run.step, "exception": f"{type(e).__name__}: {e}"}
    print(json.dumps({"facts": run.facts, "leaks": run.leaks, "error": error}))
