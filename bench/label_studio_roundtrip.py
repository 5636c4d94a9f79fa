"""A real round trip through Label Studio: alsim's tasks in, annotations made through its API, its export back.

Label Studio pins old packages, so it lives in a virtual environment of its own:

    python -m venv /tmp/lsvenv && /tmp/lsvenv/bin/pip install label-studio
    python bench/label_studio_roundtrip.py --label-studio /tmp/lsvenv/bin/label-studio [--images files]

(``tests/test_label_studio.py`` runs it when ``ALSIM_LABEL_STUDIO`` names that executable.)

Steps, each timed:

1. a labeling project on the digits, in a temporary ``ALSIM_HOME``; its first batch labeled
   from the truth, so the model guesses the next batch;
2. ``label-studio start`` on 127.0.0.1 with a temporary data folder, waited for (first start
   runs the migrations: about a minute);
3. an API token: the legacy token given at start if the organisation accepts it, else a
   personal access token (log in, ``POST /api/token/`` makes a JWT refresh token,
   ``POST /api/token/refresh/`` turns it into an access token, sent as ``Bearer``); new
   organisations have legacy tokens disabled;
4. a Label Studio project with alsim's labeling config; alsim's tasks imported, images
   embedded as data URIs (``--images embed``) or written to a folder that Label Studio serves
   (``--images files``: local files serving, a local storage on that folder, each image fetched
   back and compared);
5. the predictions checked as Label Studio holds them; annotations through the API: one per task,
   a second one that changes the class on one task, a cancelled (skipped) one on another, one
   whose choice is no class on the last, none on the one before;
6. the JSON export (``GET /api/projects/{id}/export?exportType=JSON``) imported into alsim, then
   again: every annotated item must hold the latest annotation's class, by the Label Studio
   user, stored once (one history row each), and the second import must store nothing.

Prints one line per step and a JSON summary; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

USERNAME = "u@example.com"
START_TIMEOUT = 300.0


class RoundTripFailed(AssertionError):
    """A check of the round trip did not hold."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Client:
    """Label Studio's HTTP API on 127.0.0.1 (urllib only: nothing to install beside alsim)."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.auth: str | None = None

    def request(self, method: str, path: str, body=None, form: dict | None = None, headers: dict | None = None,
                timeout: float = 60.0) -> tuple[int, bytes]:
        headers = dict(headers or {})
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.auth:
            headers.setdefault("Authorization", self.auth)
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, method: str, path: str, body=None, expect=(200, 201), **kwargs):
        status, raw = self.request(method, path, body, **kwargs)
        if status not in expect:
            raise RoundTripFailed(f"{method} {path}: HTTP {status}: {raw[:300]!r}")
        return json.loads(raw) if raw else None

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def installed_version(label_studio: str) -> str:
    """The label-studio package's version, read by the Python of its environment (``label-studio
    --version`` goes on to start a server and waits)."""
    python = Path(label_studio).resolve().parent / "python"
    try:
        found = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('label-studio'))"],
                               capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return found.stdout.strip() or "unknown"


def wait_until_up(client: Client, process: subprocess.Popen, log: Path, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise RoundTripFailed(f"label-studio exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            status, _ = client.request("GET", "/health", timeout=5)
            if status == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(1.0)
    raise RoundTripFailed(f"label-studio did not answer /health within {timeout:.0f} s: {log.read_text()[-2000:]}")


def authenticate(client: Client, legacy_token: str, password: str) -> str:
    """Set the client's Authorization header; returns which kind of token worked."""
    client.auth = f"Token {legacy_token}"
    status, raw = client.request("GET", "/api/projects")
    if status == 200:
        return "legacy token"
    try:
        legacy_refused = str(json.loads(raw).get("detail", ""))[:160]
    except (ValueError, AttributeError):
        legacy_refused = raw[:160].decode(errors="replace")
    client.auth = None
    client.request("GET", "/user/login/")
    status, _ = client.request("POST", "/user/login/", form={
        "email": USERNAME, "password": password, "csrfmiddlewaretoken": client.cookie("csrftoken") or ""})
    if client.cookie("sessionid") is None:
        raise RoundTripFailed(f"logging in failed (HTTP {status}); the legacy token was refused: {legacy_refused!r}")
    refresh = client.json("POST", "/api/token/", {}, headers={"X-CSRFToken": client.cookie("csrftoken") or ""})
    tokens = client.json("POST", "/api/token/refresh/", {"refresh": refresh["token"]})
    client.jar.clear()  # from here on the token alone authenticates, as a script's would
    client.auth = f"Bearer {tokens['access']}"
    client.json("GET", "/api/projects")
    return f"personal access token (the legacy token was refused: {legacy_refused})"


def project_tasks(client: Client, project_id: int) -> list[dict]:
    page = client.json("GET", f"/api/tasks?project={project_id}&page_size=1000&fields=all")
    return page["tasks"] if isinstance(page, dict) else page


def choice_result(value: str) -> list[dict]:
    from alsim.labeling.label_studio import FROM_NAME, TO_NAME

    return [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "value": {"choices": [value]}}]


def run_roundtrip(label_studio: str, images: str = "embed", port: int | None = None, keep: bool = False,
                  legacy_tokens: bool = False, say=print) -> dict:
    """Run the round trip; returns the summary (raises RoundTripFailed when a check fails)."""
    workdir = Path(tempfile.mkdtemp(prefix="alsim-ls-"))
    os.environ["ALSIM_HOME"] = str(workdir / "alsim-home")
    from alsim.labeling import projects as labeling  # lazy: ALSIM_HOME is set first
    from alsim.labeling.label_studio import choice_values, export_tasks, import_export, label_config

    timings: dict[str, float] = {}
    summary: dict = {"images": images}
    process = None
    try:
        started = time.monotonic()
        project = labeling.create_project("ls-roundtrip", "digits", ["batch_size=8"])
        truth = project.dataset.labels
        first = labeling.current_batch(project)
        for item in first.items:
            labeling.add_label(project, item, int(truth[item]), annotator="seed")
        docroot = workdir / "files"
        if images == "files":
            tasks = export_tasks(project, image_root=docroot / "alsim", image_url_prefix="/data/local-files/?d=alsim/")
        else:
            tasks = export_tasks(project, embed_images=True)
        config = label_config(project.class_names)
        timings["alsim_tasks_s"] = time.monotonic() - started
        if not tasks or not all("predictions" in task for task in tasks):
            raise RoundTripFailed("alsim's tasks carry no model guess")
        say(f"alsim: {len(tasks)} tasks with predictions ({timings['alsim_tasks_s']:.1f} s)")

        port = port or free_port()
        password = secrets.token_urlsafe(12)
        legacy_token = secrets.token_hex(20)
        data_dir = workdir / "label-studio"
        docroot.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
               "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
               "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(docroot),
               # Offline: no version check, no analytics, no error reports (Label Studio sends them to Sentry
               # by default, and its Sentry call fails with sentry-sdk 3, which pip installs beside it).
               "LABEL_STUDIO_LATEST_VERSION_CHECK": "false", "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
               "LABEL_STUDIO_SENTRY_DSN": "", "LABEL_STUDIO_FRONTEND_SENTRY_DSN": "", "DJANGO_DB": "sqlite"}
        summary["label_studio_version"] = installed_version(label_studio)
        log = workdir / "label-studio.log"
        command = [label_studio, "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
                   "--data-dir", str(data_dir), "--username", USERNAME, "--password", password,
                   "--user-token", legacy_token] + (["--enable-legacy-api-token"] if legacy_tokens else [])
        with open(log, "wb") as log_file:
            process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        client = Client(f"http://127.0.0.1:{port}")
        timings["start_s"] = wait_until_up(client, process, log, START_TIMEOUT)
        say(f"label-studio {summary['label_studio_version']} up on port {port} in {timings['start_s']:.0f} s")

        started = time.monotonic()
        summary["auth"] = authenticate(client, legacy_token, password)
        say(f"authenticated with a {summary['auth']}")
        ls_project = client.json("POST", "/api/projects", {"title": "alsim round trip", "label_config": config})
        if images == "files":
            storage = client.json("POST", "/api/storages/localfiles", {
                "project": ls_project["id"], "path": str(docroot / "alsim"), "title": "alsim images",
                "use_blob_urls": False})
            summary["local_storage"] = storage["id"]
        imported = client.json("POST", f"/api/projects/{ls_project['id']}/import", tasks)
        if imported.get("task_count") != len(tasks) or imported.get("prediction_count") != len(tasks):
            raise RoundTripFailed(f"Label Studio imported {imported}, expected {len(tasks)} tasks with predictions")
        stored_tasks = project_tasks(client, ls_project["id"])
        by_item = {task["data"]["alsim_item"]: task for task in stored_tasks}
        if sorted(by_item) != sorted(t["data"]["alsim_item"] for t in tasks):
            raise RoundTripFailed(f"Label Studio holds items {sorted(by_item)}")
        for task in tasks:
            if by_item[task["data"]["alsim_item"]]["data"]["image"] != task["data"]["image"]:
                raise RoundTripFailed(f"Label Studio changed item {task['data']['alsim_item']}'s image reference")
        if images == "files":
            for task in tasks[:3]:
                status, body = client.request("GET", task["data"]["image"])
                on_disk = (docroot / "alsim" / labeling.image_file_name(task["data"]["alsim_item"])).read_bytes()
                if status != 200 or body != on_disk:
                    raise RoundTripFailed(f"Label Studio served {task['data']['image']} with HTTP {status}, "
                                          f"{len(body)} bytes ({len(on_disk)} on disk)")
            say("local files: images served back byte for byte")
        for task in tasks:  # each guess arrived as a prediction (Label Studio's pre-annotation), with its score
            predictions = client.json("GET", f"/api/predictions?task={by_item[task['data']['alsim_item']]['id']}")
            got = [(p["result"][0]["value"]["choices"], round(p["score"], 6)) for p in predictions]
            want = [(task["predictions"][0]["result"][0]["value"]["choices"], task["predictions"][0]["score"])]
            if got != want:
                raise RoundTripFailed(f"item {task['data']['alsim_item']}: Label Studio holds predictions {got}, "
                                      f"alsim sent {want}")
        timings["label_studio_setup_s"] = time.monotonic() - started

        started = time.monotonic()
        values = choice_values(project.class_names)
        items = [task["data"]["alsim_item"] for task in tasks]
        expected: dict[int, int] = {}
        # The last task gets a choice that is no class (Label Studio stores what the API is given): reported, not
        # stored; the one before stays unannotated.
        status, _ = client.request("POST", f"/api/tasks/{by_item[items[-1]]['id']}/annotations",
                                     {"result": choice_result("not a class")})
        summary["unknown_choice_accepted_by_label_studio"] = status == 201
        for n, item in enumerate(items[:-2]):
            task_id = by_item[item]["id"]
            if n == 1:  # skipped: not a label, the item stays unanswered
                client.json("POST", f"/api/tasks/{task_id}/annotations",
                            {"result": [], "was_cancelled": True})
                continue
            label = int(truth[item]) if n % 3 else (int(truth[item]) + 1) % len(values)  # some wrong on purpose
            client.json("POST", f"/api/tasks/{task_id}/annotations", {"result": choice_result(values[label])})
            expected[item] = label
            if n == 0:  # a second annotation that corrects the first: the latest wins
                time.sleep(0.05)
                client.json("POST", f"/api/tasks/{task_id}/annotations",
                            {"result": choice_result(values[int(truth[item])])})
                expected[item] = int(truth[item])
        timings["annotate_s"] = time.monotonic() - started

        started = time.monotonic()
        status, export = client.request("GET", f"/api/projects/{ls_project['id']}/export?exportType=JSON",
                                        timeout=120)
        if status != 200:
            raise RoundTripFailed(f"export: HTTP {status}: {export[:300]!r}")
        (workdir / "export.json").write_bytes(export)
        exported = json.loads(export)
        sample = next(a for t in exported for a in t.get("annotations", []))
        summary["completed_by_in_export"] = sample.get("completed_by")
        timings["export_s"] = time.monotonic() - started

        started = time.monotonic()
        first_import = import_export(project, export)
        second_import = import_export(project, export)
        timings["alsim_import_s"] = time.monotonic() - started
        say(first_import.line(project.name))
        say(second_import.line(project.name))
        labels = project.store.labels(project.id)
        history = [change for change in project.store.history(project.id) if change.source == "label-studio"]
        got = {item: labels[item].label for item in items if item in labels}
        annotators = {labels[item].annotator for item in expected}
        problems = []
        if got != expected:
            problems.append(f"stored {got}, expected {expected}")
        # The export names the annotator by user id (completed_by: 1) or, in some versions, as an object with
        # the email: alsim stores the email when it is there.
        me = client.json("GET", "/api/current-user/whoami")
        annotator = USERNAME if isinstance(summary["completed_by_in_export"], dict) else f"label-studio user {me['id']}"
        if annotators != {annotator}:
            problems.append(f"annotators {annotators}, expected {{{annotator!r}}}")
        if sorted(change.item for change in history) != sorted(expected):
            problems.append(f"history rows for items {sorted(c.item for c in history)}: each label must be stored "
                            "once")
        if first_import.stored != len(expected) or second_import.stored != 0:
            problems.append(f"stored {first_import.stored} then {second_import.stored}, expected {len(expected)} "
                            "then 0")
        if first_import.unknown != ((items[-1], "not a class"),) * summary["unknown_choice_accepted_by_label_studio"]:
            problems.append(f"choices that are no class: {first_import.unknown}")
        if first_import.cancelled != 1 or first_import.disagreements != 1:
            problems.append(f"cancelled {first_import.cancelled}, disagreements {first_import.disagreements}; "
                            "expected 1 and 1")
        summary.update(tasks=len(tasks), annotated=len(expected), first_import=first_import.line(project.name),
                       second_import=second_import.line(project.name), timings_s={k: round(v, 2) for k, v in
                                                                                   timings.items()})
        if problems:
            raise RoundTripFailed("; ".join(problems))
        summary["ok"] = True
        return summary
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
        if keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label-studio", default=os.environ.get("ALSIM_LABEL_STUDIO"),
                        help="the label-studio executable of its own virtual environment ($ALSIM_LABEL_STUDIO)")
    parser.add_argument("--images", choices=("embed", "files"), default="embed",
                        help="images as data URIs in the tasks, or as files Label Studio serves")
    parser.add_argument("--port", type=int, help="port (default: a free one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its export.json, the log)")
    parser.add_argument("--legacy-tokens", action="store_true",
                        help="start Label Studio with legacy API tokens enabled (default: its default, disabled, so "
                             "the personal access token is used)")
    args = parser.parse_args(argv)
    if not args.label_studio:
        parser.error("give --label-studio PATH or set ALSIM_LABEL_STUDIO")
    try:
        summary = run_roundtrip(args.label_studio, args.images, args.port, args.keep, args.legacy_tokens)
    except RoundTripFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
