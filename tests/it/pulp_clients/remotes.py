"""Remote CRUD with pulp_hugging_face_client, token rotation included.

Extra argv keys: "url" (the fake Hub), "tokens": [first, second, third].
"""

from common import hidden, hf, main


def steps(run):
    remotes = hf.RemotesHuggingFaceApi(run.hf)
    url = run.args["url"]
    first, second, third = run.args["tokens"]

    created = run.call(
        "create",
        remotes.create_with_http_info,
        hf.HuggingFaceHuggingFaceRemote(name="pc-remote", url=url, policy="on_demand", hf_token=first),
    )
    remote = created.data
    href = remote.pulp_href
    run.fact("create.status", created.status_code)
    run.fact("create.url", remote.url)
    run.fact("create.hf_hub_url", remote.hf_hub_url)
    run.fact("create.policy", remote.policy.value if remote.policy else None)
    run.fact("create.token_is_set", hidden(remote, "hf_token"))
    run.fact("create.hf_token", remote.hf_token)

    read = run.call("read", remotes.read_with_http_info, href).data
    run.fact("read.name", read.name)
    run.fact("read.token_is_set", hidden(read, "hf_token"))

    listed = run.call("list", remotes.list_with_http_info, name="pc-remote").data
    run.fact("list.count", listed.count)
    run.fact("list.hrefs", [r.pulp_href for r in listed.results])

    # Rotation: the generated PATCH model also sends its default hf_hub_url.
    patched = run.call(
        "patch",
        remotes.partial_update_with_http_info,
        href,
        hf.PatchedhuggingFaceHuggingFaceRemote(hf_token=second),
    )
    run.fact("patch.status", patched.status_code)
    run.wait("patch.task", patched.data.task)
    rotated = run.call("read after patch", remotes.read_with_http_info, href).data
    run.fact("patch.url", rotated.url)
    run.fact("patch.token_is_set", hidden(rotated, "hf_token"))
    run.fact("patch.hf_token", rotated.hf_token)
    run.fact("patch.updated", rotated.pulp_last_updated > remote.pulp_last_updated)

    cleared = run.call(
        "clear",
        remotes.partial_update_with_http_info,
        href,
        hf.PatchedhuggingFaceHuggingFaceRemote(hf_token=None),
    )
    run.wait("clear.task", cleared.data.task)
    run.fact(
        "clear.token_is_set",
        hidden(run.call("read after clear", remotes.read_with_http_info, href).data, "hf_token"),
    )

    put = run.call(
        "put",
        remotes.update_with_http_info,
        href,
        hf.HuggingFaceHuggingFaceRemote(name="pc-remote", url=url, policy="streamed", hf_token=third),
    )
    run.fact("put.status", put.status_code)
    run.wait("put.task", put.data.task)
    replaced = run.call("read after put", remotes.read_with_http_info, href).data
    run.fact("put.policy", replaced.policy.value if replaced.policy else None)
    run.fact("put.token_is_set", hidden(replaced, "hf_token"))

    deleted = run.call("delete", remotes.delete_with_http_info, href)
    run.fact("delete.status", deleted.status_code)
    run.wait("delete.task", deleted.data.task)
    run.fact("delete.read_status", run.status_of("read after delete", remotes.read_with_http_info, href))


main(steps)
