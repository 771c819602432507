"""Repository CRUD and sync with pulp_hugging_face_client, as a program would drive it.

The generated repository model has no hubcache fields (repo_id, …): it drops them, so repo_id
is set with a plain PATCH, as docs/pulp-api.md says. Extra argv keys: "remote" (its name).
"""

import base64
import json
import urllib.request

from common import hf, main


def plain_patch(run, href, body):
    """A PATCH without the generated client; returns (status, JSON body)."""
    run.at("plain patch")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    auth = base64.b64encode(f"{run.args['user']}:{run.args['password']}".encode()).decode()
    request = urllib.request.Request(
        run.args["api"] + href,
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
    )
    with opener.open(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def steps(run):
    repositories = hf.RepositoriesHuggingFaceApi(run.hf)
    versions = hf.RepositoriesHuggingFaceVersionsApi(run.hf)
    remotes = hf.RemotesHuggingFaceApi(run.hf)
    remote = run.call("remote", remotes.list_with_http_info, name=run.args["remote"]).data.results[0]

    created = run.call(
        "create",
        repositories.create_with_http_info,
        hf.HuggingFaceHuggingFaceRepository(name="pc-repo", remote=remote.pulp_href),
    )
    repo = created.data
    href = repo.pulp_href
    run.fact("create.status", created.status_code)
    run.fact("create.remote_is_the_remote", repo.remote == remote.pulp_href)
    run.fact("create.retain_repo_versions", repo.retain_repo_versions)
    run.fact("create.latest_version_href", repo.latest_version_href)

    latest = run.call("latest version", versions.read_with_http_info, repo.latest_version_href).data
    run.fact("latest.number", latest.number)

    listed = run.call("list", repositories.list_with_http_info, name="pc-repo").data
    run.fact("list.hrefs", [r.pulp_href for r in listed.results])

    run.fact(
        "sync_without_repo_id.status",
        run.status_of(
            "sync without repo_id",
            repositories.sync_with_http_info,
            href,
            hf.RepositorySyncURL(),
        ),
    )

    status, body = plain_patch(run, href, {"repo_id": "org/bert"})
    run.fact("plain_patch.status", status)
    run.wait("plain_patch.task", body["task"])

    patched = run.call(
        "patch",
        repositories.partial_update_with_http_info,
        href,
        hf.PatchedhuggingFaceHuggingFaceRepository(description="warm"),
    )
    run.fact("patch.status", patched.status_code)
    run.wait("patch.task", patched.data.task)
    read = run.call("read", repositories.read_with_http_info, href).data
    run.fact("read.description", read.description)

    synced = run.call("sync", repositories.sync_with_http_info, href, hf.RepositorySyncURL(mirror=False))
    run.fact("sync.status", synced.status_code)
    task = run.call("sync task", run.tasks.read_with_http_info, synced.data.task).data
    run.fact("sync.task_name", task.name)
    run.fact("sync.task_reserves_the_repository", href in (task.reserved_resources_record or []))
    run.wait("sync.task", synced.data.task)

    deleted = run.call("delete", repositories.delete_with_http_info, href)
    run.fact("delete.status", deleted.status_code)
    run.wait("delete.task", deleted.data.task)
    run.fact("delete.read_status", run.status_of("read after delete", repositories.read_with_http_info, href))


main(steps)
